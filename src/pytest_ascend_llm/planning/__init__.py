"""Capacity planning and deployment commands, computed from a model config before anything loads."""

from pytest_ascend_llm.planning.capacity import (
    CapacityError,
    CapacityPlan,
    check_concurrency,
    parameter_count,
    plan_capacity,
)
from pytest_ascend_llm.planning.launch import sglang_command, shell_line, transformers_settings

__all__ = [
    "CapacityError",
    "CapacityPlan",
    "check_concurrency",
    "parameter_count",
    "plan_capacity",
    "sglang_command",
    "shell_line",
    "transformers_settings",
]
