"""Device inventory and health from the vendor tools (`npu-smi`, `nvidia-smi`), without importing torch.

A test report needs to say which cards a run had, whether they were healthy and whether another process
already held their memory; the vendor tools answer that even when no framework can be imported.
"""
