"""Benchmark cases as plain data: results with tail percentiles, a regression gate and a table."""
