"""The host-thread variables (OpenMP, MKL) that size PyTorch's CPU-side operators, each check beside its row of the
doctor's table (``variables`` assembles the rows).
"""

from __future__ import annotations

import re

from pytest_ascend_llm.doctor.rule_types import ALL_KINDS, Context, Variable, Verdict
from pytest_ascend_llm.doctor.sources import PYTORCH_THREADS


def check_omp_threads(value: str, ctx: Context) -> list[Verdict]:
    if not all(re.fullmatch(r"[1-9]\d*", part.strip()) for part in value.split(",")):
        return [Verdict("error", f"{value!r} is not a list of positive integers: the thread count is unspecified")]
    return [Verdict("info", f"{value} OpenMP thread(s) per process for host-side (CPU) operators")]


OMP_NUM_THREADS = Variable(
    "OMP_NUM_THREADS",
    "OpenMP threads per parallel region (PyTorch's intra-op CPU threads)",
    "https://gcc.gnu.org/onlinedocs/gcc-7.5.0/libgomp/OMP_005fNUM_005fTHREADS.html",
    check_omp_threads,
    ALL_KINDS,
)


def check_mkl_threads(value: str, ctx: Context) -> list[Verdict]:
    if not re.fullmatch(r"[1-9]\d*", value.strip()):
        return [Verdict("error", f"{value!r} is not a positive integer")]
    return [Verdict("info", f"{value} MKL thread(s); takes precedence over OMP_NUM_THREADS for MKL")]


MKL_NUM_THREADS = Variable(
    "MKL_NUM_THREADS", "MKL threads for PyTorch's CPU operators", PYTORCH_THREADS, check_mkl_threads, ALL_KINDS
)


ROWS: tuple[Variable, ...] = (
    OMP_NUM_THREADS,
    MKL_NUM_THREADS,
)
