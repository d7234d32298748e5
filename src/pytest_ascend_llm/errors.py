"""One error type for user-fixable setup problems: its message is a single line that names the fix."""


class LLMSetupError(Exception):
    """A bad option, model or device; shown to the user as one line, never as a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class ModelLoadFailedEarlier(LLMSetupError):
    """The session's model failed to load once already; later tests are not run against it."""

    def __init__(self, first_error: str) -> None:
        super().__init__(f"not run: the model failed to load earlier in this session ({first_error})")


OOM_MARKERS = ("out of memory", "can't allocate memory", "cannot allocate memory")


def is_out_of_memory(error: BaseException) -> bool:
    """torch.OutOfMemoryError on CUDA/NPU, or the CPU allocator's RuntimeError."""
    return type(error).__name__ == "OutOfMemoryError" or any(m in str(error).lower() for m in OOM_MARKERS)


def out_of_memory_line(device: object, report: object, error: BaseException) -> str:
    """One line: where memory ran out, the peak before it, and what to change."""
    first = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
    peak = getattr(report, "peak_allocated", 0) / 2**30
    return (
        f"out of memory on {device} (peak {peak:.2f} GiB before the failure; {first}): lower the batch size or "
        "context, use a smaller dtype, or plan it with `pytest-ascend-llm plan`"
    )
