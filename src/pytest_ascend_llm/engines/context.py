"""What an engine factory may use: the run's settings, device, model source and (loaded on demand)
model. ``LLMSession`` provides it; a caller without a session can provide its own object with these
members. Engines depend on this interface, not on the session, so the session can depend on engines."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from pytest_ascend_llm.devices.base import Device
    from pytest_ascend_llm.models.loading import LoadedModel
    from pytest_ascend_llm.models.source import ModelSource
    from pytest_ascend_llm.settings import Settings


class EngineContext(Protocol):
    """The members engine factories read; the model properties load on first use."""

    @property
    def settings(self) -> Settings: ...

    @property
    def device(self) -> Device: ...

    @property
    def source(self) -> ModelSource: ...

    @property
    def loaded(self) -> LoadedModel: ...

    @property
    def draft_model(self): ...

    @property
    def graph_mode(self) -> str | None:
        """'eager' or 'compiled' for this engine, None for the engine's own default."""
        ...
