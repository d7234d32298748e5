"""Engines share one interface (transformers in-process now; SGLang and OpenAI-compatible servers next)."""

from pytest_ascend_llm.engines.base import (
    DecodeState,
    Engine,
    EngineCapabilityError,
    GenerationResult,
    Prompt,
    SamplingParams,
    SpeculativeConfig,
    SpeculativeStats,
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
]
