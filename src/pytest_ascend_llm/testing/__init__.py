"""Test doubles and helpers: for this project's own tests, and for users calibrating their own client
against a server whose timing is known (as ``benchmarks/test_client_clock.py`` does)."""
