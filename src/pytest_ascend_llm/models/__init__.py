"""Model sources: the built-in offline tiny Qwen2 and the one loading path every model goes through."""
