"""The one map from a device kind to the variable that lists the devices a process may see.

Ascend's runtime reads ASCEND_RT_VISIBLE_DEVICES and CUDA's CUDA_VISIBLE_DEVICES when a device
initialises, and both renumber the cards a process sees: xdist workers narrow them, the busy-device
guard maps torch's index back to the card's, and results record them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

VISIBLE = {"npu": "ASCEND_RT_VISIBLE_DEVICES", "cuda": "CUDA_VISIBLE_DEVICES"}


def listed_devices(kind: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """The devices the variable lists, in its order; empty when it is unset or blank."""
    return [part.strip() for part in environ.get(VISIBLE[kind], "").split(",") if part.strip()]
