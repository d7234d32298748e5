"""One error type for user-fixable setup problems: its message is a single line that names the fix."""


class LLMSetupError(Exception):
    """A bad option, model or device; shown to the user as one line, never as a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
