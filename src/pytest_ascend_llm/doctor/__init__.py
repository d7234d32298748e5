"""The environment doctor: reads the variables an Ascend serving run inherits and says which help, which are wrong,
and which make a benchmark meaningless, before hours of NPU time are spent measuring a misconfigured process.

Every rule cites the documentation or source line that gives a variable its meaning (see ``variables``); the rules
take plain mappings, so they are tested without an NPU, without torch and without touching ``os.environ``.
"""
