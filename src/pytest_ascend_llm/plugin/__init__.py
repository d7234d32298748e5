"""The pytest layer: hooks (``hooks``, the one pytest11 entry point), options, markers, fixtures,
``llm_bench`` and its timers, the one adapter to pytest-benchmark's internals, the gate at session end,
the results file and report, the memory monitor, xdist workers, and the run's state at the bottom."""
