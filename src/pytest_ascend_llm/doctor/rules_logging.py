"""The CANN logging variables: the log level (DEBUG traffic distorts timings) and where the logs go, each check
beside its row of the doctor's table (``variables`` assembles the rows).
"""

from __future__ import annotations

from pytest_ascend_llm.doctor.rule_types import Context, Variable, Verdict, switch
from pytest_ascend_llm.doctor.sources import OPTIONS_MANAGER, cann_doc


def check_log_level(value: str, ctx: Context) -> list[Verdict]:
    """0 DEBUG, 1 INFO, 2 WARNING, 3 ERROR (default), 4 NULL; the docs warn that DEBUG traffic hurts performance."""
    if value not in ("0", "1", "2", "3", "4"):
        return [
            Verdict(
                "error",
                f"{value!r} is not 0-4: CANN falls back to its default; torch_npu reads it with strtol and stops "
                "on integers outside 0-4",
                OPTIONS_MANAGER,
            )
        ]
    if value == "0":
        return [Verdict("warn", "DEBUG logging: the log traffic slows the run, timings are not representative")]
    if value == "1":
        return [Verdict("info", "INFO logging: more log traffic than the default ERROR")]
    return [Verdict("ok", {"2": "WARNING", "3": "ERROR (default)", "4": "no logs"}[value])]


ASCEND_GLOBAL_LOG_LEVEL = Variable(
    "ASCEND_GLOBAL_LOG_LEVEL",
    "CANN log level: 0 DEBUG, 1 INFO, 2 WARNING, 3 ERROR (default), 4 NULL",
    cann_doc("en/canncommercial/850/maintenref/envvar/envref_07_0122.html"),
    check_log_level,
)


def check_slog_stdout(value: str, ctx: Context) -> list[Verdict]:
    return switch(
        "ASCEND_SLOG_PRINT_TO_STDOUT",
        value,
        on=Verdict("warn", "CANN logs go to stdout instead of log files; verbose levels flood the console"),
        off=Verdict("ok", "CANN logs go to files"),
    )


ASCEND_SLOG_PRINT_TO_STDOUT = Variable(
    "ASCEND_SLOG_PRINT_TO_STDOUT",
    "1 prints CANN logs to stdout instead of log files",
    cann_doc("zh/canncommercial/900/maintenref/envvar/envref_07_0121.html"),
    check_slog_stdout,
)


ROWS: tuple[Variable, ...] = (
    ASCEND_GLOBAL_LOG_LEVEL,
    ASCEND_SLOG_PRINT_TO_STDOUT,
)
