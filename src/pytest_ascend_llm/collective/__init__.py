"""Collective bandwidth across devices (all-reduce, all-gather): what tensor parallelism rides on.

``run_collective`` starts one worker process per device, times the collectives with nccl-tests'
algbw/busbw definitions, and compares busbw with the interconnect's published per-direction peak.
"""
