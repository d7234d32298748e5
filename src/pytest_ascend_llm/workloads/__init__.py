"""Request workloads built offline from shipped text, deterministic for a seed."""
