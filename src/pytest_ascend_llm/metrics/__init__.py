"""Metric definitions (TTFT/TPOT/ITL, percentiles) kept in one place, following vLLM/SGLang."""
