"""Numerical comparisons against a CPU float32 reference with dtype-appropriate tolerances."""

from __future__ import annotations

from dataclasses import dataclass

from pytest_ascend_llm.torch_backend import torch

# (rtol, atol) for elementwise kernels on unit-scale data; half types carry ~3 decimal digits.
KERNEL_TOLERANCE = {torch.float32: (1e-4, 1e-4), torch.float16: (1e-2, 1e-2), torch.bfloat16: (4e-2, 4e-2)}
# Largest logit error allowed, relative to the largest reference logit, after a whole forward pass.
LOGIT_TOLERANCE = {torch.float32: 1e-3, torch.float16: 3e-2, torch.bfloat16: 8e-2}


def kernel_tolerance(dtype: torch.dtype) -> tuple[float, float]:
    return KERNEL_TOLERANCE.get(dtype, KERNEL_TOLERANCE[torch.bfloat16])


def matmul_and_softmax_errors(device: torch.device, dtype: torch.dtype, size: int = 256) -> dict[str, float]:
    """Worst |device − CPU float32| / tolerance for a matmul and a softmax on the same rounded inputs;
    a value above 1 means the device kernel is wrong for this dtype."""
    generator = torch.Generator().manual_seed(0)
    a = (torch.randn(size, size, generator=generator) / size**0.5).to(dtype)
    b = torch.randn(size, size, generator=generator).to(dtype)
    rtol, atol = kernel_tolerance(dtype)
    cases = {
        "matmul": (a.float() @ b.float(), (a.to(device) @ b.to(device)).float().cpu()),
        "softmax": (
            torch.softmax(b.float() * 4, dim=-1),
            torch.softmax(b.to(device) * 4, dim=-1).float().cpu(),
        ),
    }
    errors = {}
    for name, (reference, result) in cases.items():
        if result.shape != reference.shape or not torch.isfinite(result).all():
            errors[name] = float("inf")
            continue
        allowed = atol + rtol * reference.abs()
        errors[name] = float(((result - reference).abs() / allowed).max())
    return errors


@dataclass(frozen=True)
class LogitParity:
    """How device logits compare with the CPU float32 reference, position by position."""

    relative_error: float
    tolerance: float
    top1_agreement: float
    decisive_positions: int
    decisive_mismatches: int

    @property
    def ok(self) -> bool:
        return self.relative_error <= self.tolerance and self.decisive_mismatches == 0


def compare_logits(result: torch.Tensor, reference: torch.Tensor, dtype: torch.dtype) -> LogitParity:
    """Top-1 must agree wherever the reference's top-1/top-2 margin exceeds the tolerance (elsewhere a
    tie may flip legitimately); the largest error must stay within the dtype's tolerance."""
    result, reference = result.float().cpu(), reference.float().cpu()
    scale = float(reference.abs().max()) or 1.0
    tolerance = LOGIT_TOLERANCE.get(dtype, LOGIT_TOLERANCE[torch.bfloat16])
    relative_error = float((result - reference).abs().max()) / scale
    top2 = reference.topk(2, dim=-1).values
    decisive = (top2[:, 0] - top2[:, 1]) > 2 * tolerance * scale
    agree = result.argmax(-1) == reference.argmax(-1)
    return LogitParity(
        relative_error=relative_error,
        tolerance=tolerance,
        top1_agreement=float(agree.float().mean()),
        decisive_positions=int(decisive.sum()),
        decisive_mismatches=int((decisive & ~agree).sum()),
    )
