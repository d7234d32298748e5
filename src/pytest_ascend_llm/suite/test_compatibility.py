"""Compatibility of a model with this device and software stack, as assertions a deployment engineer
can sign. Runs on an Ascend NPU by default; ``--llm-device cpu|cuda`` runs the same checks there."""

from __future__ import annotations

import importlib
import importlib.metadata

import psutil
import pytest

from pytest_ascend_llm.checks.numerics import compare_logits, matmul_and_softmax_errors
from pytest_ascend_llm.checks.quality import PROBES
from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.models.arithmetic import kv_bytes_per_token
from pytest_ascend_llm.suite.prompts import SHORT_PROMPTS, prompt_of_length
from pytest_ascend_llm.torch_backend import torch

pytestmark = pytest.mark.npu

GREEDY = SamplingParams(max_new_tokens=24)
WEIGHT_TOLERANCE = 0.05
USABLE_MEMORY_FRACTION = 0.9  # what serving engines leave after runtime workspace (vLLM's default)
MIN_KV_TOKENS = 4096


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split("+")[0].split(".")[:2])


def test_device_health_is_ok(llm_session, record_property):
    """First of the compatibility checks: a card whose health is not OK fails here, with its state."""
    from pytest_ascend_llm.inventory.guard import unhealthy

    if llm_session.device.kind not in ("npu", "cuda"):
        pytest.skip(f"card health is read from npu-smi / nvidia-smi: not applicable on {llm_session.device}")
    inventory = llm_session.inventory
    if inventory is None:
        pytest.skip(f"no card health: {llm_session.inventory_problem}")
    record_property("inventory", inventory.summary_line())
    bad = unhealthy(inventory, llm_session.card_index)
    assert not bad, f"card under test not healthy ({inventory.tool}): {'; '.join(bad)}"


@pytest.mark.parametrize("module", ["torch", "transformers", "tokenizers", "safetensors", "pytest_benchmark"])
def test_stack_required_package_imports(module, record_property):
    imported = importlib.import_module(module)
    version = str(getattr(imported, "__version__", None) or importlib.metadata.version(module.replace("_", "-")))
    record_property(f"{module}_version", version)  # str: torch's TorchVersion cannot cross xdist's execnet
    assert version, f"{module} imported but reports no version: reinstall it"


def test_stack_torch_npu_matches_torch(llm_env, llm_device, record_property):
    record_property("stack", llm_env.stack_summary())
    if llm_env.torch_npu is None:
        if llm_device.kind == "npu":
            pytest.fail("running on an NPU but torch_npu is not installed: pip install torch-npu", pytrace=False)
        pytest.skip("torch_npu is not installed: no torch/torch_npu pairing to check")
    assert _major_minor(llm_env.torch_npu) == _major_minor(llm_env.torch), (
        f"torch_npu {llm_env.torch_npu} is built for another torch than the installed torch {llm_env.torch}: "
        "install the torch version matching torch_npu (same major.minor)"
    )


def test_device_matmul_and_softmax_match_cpu_float32(llm_device, llm_loaded, record_property):
    errors = matmul_and_softmax_errors(llm_device.torch_device, llm_loaded.dtype)
    record_property("kernel_error_over_tolerance", errors)
    bad = {name: value for name, value in errors.items() if value > 1.0}
    assert not bad, (
        f"{', '.join(bad)} on {llm_device} in {llm_loaded.dtype} differ from the CPU float32 result by up to "
        f"{max(bad.values()):.1f}× the tolerance: check the CANN/driver versions and the operator library"
    )


def test_memory_weights_match_parameters_times_dtype(llm_loaded, record_property):
    expected, held = llm_loaded.expected_weight_bytes, llm_loaded.device_bytes_loaded
    record_property("weights_expected_bytes", expected)
    record_property("weights_held_bytes", held)
    record_property("host_rss_growth_bytes", llm_loaded.host_rss_growth)
    ratio = held / expected
    assert abs(ratio - 1) <= WEIGHT_TOLERANCE, (
        f"the weights hold {held / 2**30:.2f} GiB on {llm_loaded.device} but {llm_loaded.parameter_count:,} "
        f"parameters in {llm_loaded.dtype} need {expected / 2**30:.2f} GiB ({ratio:.2f}×): "
        "the model was loaded in another dtype or the memory report is wrong"
    )


def test_memory_weights_plus_kv_cache_fit(llm_loaded, llm_device, record_property):
    config = llm_loaded.source.config
    tokens = min(MIN_KV_TOKENS, llm_loaded.source.max_positions)
    kv = kv_bytes_per_token(config, llm_loaded.dtype_bytes) * tokens
    usable = int(llm_device.total_memory() * USABLE_MEMORY_FRACTION)
    record_property("kv_bytes_min_cache", kv)
    record_property("device_usable_bytes", usable)
    assert llm_loaded.expected_weight_bytes + kv <= usable, (
        f"weights {llm_loaded.expected_weight_bytes / 2**30:.1f} GiB + KV cache for {tokens} tokens "
        f"{kv / 2**30:.2f} GiB exceed {USABLE_MEMORY_FRACTION:.0%} of {llm_device} memory "
        f"({usable / 2**30:.1f} GiB): use more devices (tensor parallel) or a smaller dtype"
    )


def test_inference_greedy_output_is_nonempty_and_repeatable(llm_engine):
    first = llm_engine.generate(SHORT_PROMPTS[:1], GREEDY)[0]
    second = llm_engine.generate(SHORT_PROMPTS[:1], GREEDY)[0]
    assert first.output_tokens > 0 and first.text.strip(), "greedy generation returned no text"
    assert first.output_ids == second.output_ids, (
        "two greedy runs of the same prompt differ: a nondeterministic kernel or an uninitialized buffer"
    )


def test_batching_left_padded_batch_equals_one_by_one(llm_engine):
    batched = llm_engine.generate(SHORT_PROMPTS, GREEDY)
    single = [llm_engine.generate([prompt], GREEDY)[0] for prompt in SHORT_PROMPTS]
    lengths = {result.prompt_tokens for result in batched}
    assert len(lengths) > 1, "the batching check needs prompts of different lengths to exercise padding"
    for prompt, together, alone in zip(SHORT_PROMPTS, batched, single):
        assert together.output_ids == alone.output_ids, (
            f"batched output of {prompt!r} differs from its unbatched output: left padding or the "
            "attention mask is mishandled"
        )


def test_long_context_generates_requested_tokens(llm_engine, llm_session, record_property):
    new_tokens = 16
    limit = llm_session.source.max_positions - new_tokens
    length = min(llm_session.settings.long_context or 8192, limit)
    prompt = prompt_of_length(llm_engine.encode, length)
    result = llm_engine.generate([prompt], SamplingParams(max_new_tokens=new_tokens, ignore_eos=True))[0]
    record_property("long_context_prompt_tokens", result.prompt_tokens)
    record_property("long_context_ttft_s", result.ttft)
    assert result.prompt_tokens == length
    assert result.output_tokens == new_tokens, (
        f"a {length}-token prompt produced {result.output_tokens} of {new_tokens} tokens"
    )


def test_numerics_logits_match_cpu_float32_reference(llm_engine, llm_loaded, llm_session, record_property):
    from pytest_ascend_llm.devices.cpu import CpuDevice
    from pytest_ascend_llm.models.loading import load_causal_lm

    needed = llm_loaded.parameter_count * 4
    available = psutil.virtual_memory().available
    if needed > 0.8 * available and not llm_session.settings.parity_force:
        pytest.skip(
            f"a float32 CPU reference needs {needed / 2**30:.1f} GiB of host memory, "
            f"{available / 2**30:.1f} GiB available: pass --llm-parity-force to run it anyway"
        )
    prompt = llm_engine.encode(SHORT_PROMPTS[3])
    reference_model = load_causal_lm(
        llm_loaded.source, CpuDevice(), torch.float32, llm_session.settings.trust_remote_code
    )
    with torch.inference_mode():
        reference = reference_model(input_ids=torch.tensor([prompt])).logits[0]
    del reference_model
    parity = compare_logits(llm_engine.logits(prompt), reference, llm_loaded.dtype)
    record_property("logit_relative_error", parity.relative_error)
    record_property("top1_agreement", parity.top1_agreement)
    assert parity.ok, (
        f"logits on {llm_loaded.device} ({llm_loaded.dtype}) differ from CPU float32: max error "
        f"{parity.relative_error:.2e} of the logit scale (tolerance {parity.tolerance:.0e}), "
        f"{parity.decisive_mismatches} of {parity.decisive_positions} clear top-1 choices changed"
    )


@pytest.mark.parametrize("probe", PROBES, ids=[probe.name for probe in PROBES])
def test_quality_probe(probe, llm_engine, llm_session):
    if llm_session.source.builtin:
        pytest.skip("the built-in model has random weights: quality probes need a trained model (--llm-model)")
    prompt = llm_engine.format_chat([{"role": "user", "content": probe.prompt}])
    answer = llm_engine.generate([prompt], SamplingParams(max_new_tokens=probe.max_new_tokens))[0].text
    problem = probe.grade(answer)
    assert problem is None, f"{probe.name}: {problem}; the model answered {answer[:200]!r}"


def test_no_operator_fell_back_to_the_cpu(llm_engine, llm_session, llm_run, capfd, record_property):
    """torch_npu runs operators it has no NPU kernel for on the CPU, warning once per operator on stderr:
    a frequent hidden cause of slow NPU inference. Last of the checks, so it sees what earlier ones ran."""
    from pytest_ascend_llm.doctor.cpu_fallback import fallback_operators

    if llm_session.device.kind != "npu":
        pytest.skip(f"CPU fallback is torch_npu's: nothing to check on {llm_session.device}")
    llm_engine.generate(SHORT_PROMPTS[:2], GREEDY)
    operators = fallback_operators([*llm_run.stderr_seen, capfd.readouterr().err])
    record_property("cpu_fallback_operators", operators)
    assert not operators, f"operators ran on the CPU instead of the NPU (slow): {', '.join(operators)}"
