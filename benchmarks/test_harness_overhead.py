"""What the plugin costs: the same greedy generation through the plugin's engine (timestamps, device
synchronization, result objects) and through a bare hand-written loop on the same model, interleaved
in one run so machine drift hits both alike. Reports the ratio; the goal is ≤ 1 %.

    pytest benchmarks/ --llm-device cpu -s
"""

from __future__ import annotations

import statistics
import time

import torch

from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.engines.hf_forward import cache_argument

NEW_TOKENS = 64
ROUNDS = 15


@torch.inference_mode()
def bare_greedy_loop(model, input_ids: torch.Tensor, new_tokens: int) -> list[int]:
    """The loop a user would write by hand: prefill, then one forward pass per token with a KV cache."""
    from transformers import DynamicCache

    # The argument's current name (cache in transformers 5), so the loop pays no deprecation shim.
    cache = {cache_argument(model): DynamicCache()}
    output = model(input_ids=input_ids, use_cache=True, **cache)
    token = output.logits[:, -1:].argmax(-1)
    tokens = [int(token)]
    for _ in range(new_tokens - 1):
        output = model(input_ids=token, use_cache=True, **cache)
        token = output.logits[:, -1:].argmax(-1)
        tokens.append(int(token))
    return tokens


def _timed(device, work) -> float:
    start = device.now()
    work()
    return device.now() - start


def test_plugin_overhead_against_a_bare_loop(llm_engine, llm_model, llm_device, record_property, capsys):
    prompt = llm_engine.encode("Continue the story: the engineer upgraded the toolkit, ran the tests, and")
    input_ids = torch.tensor([prompt], device=llm_device.torch_device)
    params = SamplingParams(max_new_tokens=NEW_TOKENS, ignore_eos=True)
    plugin = lambda: llm_engine.generate([prompt], params)  # noqa: E731
    bare = lambda: bare_greedy_loop(llm_model, input_ids, NEW_TOKENS)  # noqa: E731
    hf_generate = lambda: llm_model.generate(  # noqa: E731
        input_ids=input_ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False
    )
    assert plugin()[0].output_ids == bare(), "both paths must do the same work: identical greedy tokens"
    times: dict[str, list[float]] = {"bare_loop": [], "hf_generate": [], "plugin": []}
    for _ in range(ROUNDS):
        for name, work in (("bare_loop", bare), ("hf_generate", hf_generate), ("plugin", plugin)):
            times[name].append(_timed(llm_device, work))
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratios = {
        "plugin_over_bare_loop": medians["plugin"] / medians["bare_loop"],
        "plugin_over_hf_generate": medians["plugin"] / medians["hf_generate"],
        "hf_generate_over_bare_loop": medians["hf_generate"] / medians["bare_loop"],
    }
    for name, value in {**medians, **ratios}.items():
        record_property(name, value)
    with capsys.disabled():
        print(f"\nharness overhead on {llm_device} ({NEW_TOKENS} tokens, median of {ROUNDS} interleaved rounds):")
        for name, value in medians.items():
            print(f"  {name:12s} {value * 1e3:8.2f} ms  ({NEW_TOKENS / value:7.1f} tok/s)")
        for name, value in ratios.items():
            print(f"  {name:28s} {value:.4f}  ({(value - 1) * 100:+.2f} %)")
    _ = time  # keep the module import list honest for readers timing by hand
