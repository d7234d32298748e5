"""The transformers engine on the built-in model: outputs, timestamps, and the prefill/decode split."""

import pytest

from pytest_ascend_llm.engines import SamplingParams

PROMPTS = [
    "The capital of China is",
    "def fibonacci(n):",
    "Tell me a story about a robot who learns to paint the sea at night.",
]


def test_batched_greedy_equals_one_by_one_and_output_varies(engine):
    params = SamplingParams(max_new_tokens=20)
    batched = engine.generate(PROMPTS, params)
    assert [r.output_ids for r in batched] == [engine.generate([p], params)[0].output_ids for p in PROMPTS]
    assert len({r.prompt_tokens for r in batched}) > 1
    assert all(len(set(r.output_ids)) > 5 for r in batched), "random model should not repeat one token"


def test_token_ids_and_text_prompts_give_the_same_output(engine):
    params = SamplingParams(max_new_tokens=8)
    assert (
        engine.generate([engine.encode(PROMPTS[0])], params)[0].output_ids
        == engine.generate(PROMPTS[:1], params)[0].output_ids
    )


def test_timestamps_are_per_token_and_ordered(engine):
    result = engine.generate(PROMPTS[:1], SamplingParams(max_new_tokens=12, ignore_eos=True))[0]
    times = [chunk.time for chunk in result.chunks]
    assert result.output_tokens == 12 and sum(c.count for c in result.chunks) == 12
    assert times == sorted(times) and times[0] > 0
    assert result.ttft == times[0] and result.e2e == times[-1]
    assert result.tpot == pytest.approx((times[-1] - times[0]) / 11)
    assert len(result.itl) == 11


def test_ignore_eos_always_produces_the_requested_tokens(engine):
    results = engine.generate(PROMPTS, SamplingParams(max_new_tokens=30, ignore_eos=True))
    assert [r.output_tokens for r in results] == [30, 30, 30]
    assert {r.finish_reason for r in results} == {"length"}


def test_sampling_with_a_seed_is_reproducible_and_differs_from_greedy(engine):
    sampled = SamplingParams(max_new_tokens=16, temperature=1.0, seed=7)
    first, second = engine.generate(PROMPTS[:1], sampled)[0], engine.generate(PROMPTS[:1], sampled)[0]
    greedy = engine.generate(PROMPTS[:1], SamplingParams(max_new_tokens=16))[0]
    assert first.output_ids == second.output_ids
    assert first.output_ids != greedy.output_ids


def test_prefill_and_decode_steps_reproduce_greedy_generation(engine):
    batch = [engine.encode(p) for p in PROMPTS]
    expected = engine.generate(batch, SamplingParams(max_new_tokens=4, ignore_eos=True))
    state = engine.prefill(batch)
    produced = [state.next_tokens.flatten().tolist()]
    for _ in range(3):
        produced.append(engine.decode_step(state).next_tokens.flatten().tolist())
    assert [list(column) for column in zip(*produced)] == [r.output_ids for r in expected]


def test_truncate_keeps_the_kv_cache_from_growing_across_rounds(engine):
    state = engine.prefill([engine.encode(p) for p in PROMPTS])  # padded: the mask is truncated too
    start = state.context_length
    for _ in range(5):
        engine.decode_step(state)
        state.truncate(start)
    assert state.cache.get_seq_length() == start and state.attention_mask.shape[1] == start


def test_chat_prompts_use_the_model_template(engine):
    text = engine.format_chat([{"role": "user", "content": "hi"}])
    assert text.startswith("<|im_start|>user\nhi<|im_end|>") and text.endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize("ignore_eos", [False, True])
def test_own_greedy_loop_equals_transformers_generate(engine, ignore_eos):
    """The engine's greedy loop must give exactly transformers' greedy tokens, batched and padded."""
    import torch

    params = SamplingParams(max_new_tokens=40, ignore_eos=ignore_eos)
    ours = engine.generate(PROMPTS, params)
    ids, mask = engine._pad_left([engine.encode(p) for p in PROMPTS])
    with torch.inference_mode():
        reference = engine.model.generate(
            input_ids=ids, attention_mask=mask, generation_config=engine._generation_config(params)
        )[:, ids.shape[1] :].tolist()
    eos = engine.tokenizer.eos_token_id
    for result, expected in zip(ours, reference):
        cut = expected.index(eos) + 1 if (eos in expected and not ignore_eos) else len(expected)
        assert result.output_ids == expected[:cut]
