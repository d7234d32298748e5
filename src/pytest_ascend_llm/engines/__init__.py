"""Engines share one interface: transformers and SGLang in-process, any OpenAI-compatible server, and
vLLM / SGLang servers launched for the session; factories take an ``EngineContext``.

Names load on first use (PEP 562), so ``engines.registry`` can validate ``--llm-engine`` while pytest
loads the plugin without importing the engines themselves.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pytest_ascend_llm.lazy import lazy_attributes

if TYPE_CHECKING:
    from pytest_ascend_llm.engines.base import (
        DecodeState,
        Engine,
        EngineCapabilityError,
        GenerationResult,
        Prompt,
        SamplingParams,
        SpeculativeConfig,
        SpeculativeStats,
        TokenLogprob,
    )

__all__ = [
    "DecodeState",
    "Engine",
    "EngineCapabilityError",
    "GenerationResult",
    "Prompt",
    "SamplingParams",
    "SpeculativeConfig",
    "SpeculativeStats",
    "TokenLogprob",
]

__getattr__ = lazy_attributes(__name__, dict.fromkeys(__all__, "base"))
