"""SGLang cannot run on this machine (its wheels pin CUDA packages): its code paths are thin, and what
they parse and build is tested here on SGLang's documented formats (``/generate`` and Engine outputs
with ``meta_info``; ``launch_server`` arguments). The engine itself is verified on a device only."""

from __future__ import annotations

from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.engines.sglang_engine import logprob_arguments, result_from_stream, sampling_dict
from pytest_ascend_llm.serving.flavours import FLAVOURS


def _meta(completion: int, **extra) -> dict:
    return {"prompt_tokens": 7, "completion_tokens": completion, "cached_tokens": 4, **extra}


def test_incremental_stream_with_speculative_chunks_counts_tokens_from_meta_info():
    events = [
        (0.050, {"text": "Hel", "output_ids": [11], "meta_info": _meta(1)}),
        (0.060, {"text": "lo wor", "output_ids": [12, 13, 14], "meta_info": _meta(4)}),
        (0.070, {"text": "ld", "output_ids": [15, 16], "meta_info": _meta(6, spec_verify_ct=3,
                 finish_reason={"type": "length", "length": 6})}),
    ]  # fmt: skip
    result = result_from_stream(events)
    assert [chunk.count for chunk in result.chunks] == [1, 3, 2] and result.output_tokens == 6
    assert result.output_ids == [11, 12, 13, 14, 15, 16] and result.text == "Hello world"
    assert result.cached_tokens == 4 and result.prompt_tokens == 7 and result.finish_reason == "length"
    assert result.speculative.accept_length(result.output_tokens) == 2.0  # completion_tokens / spec_verify_ct
    assert len(result.itl) == 5 and len(result.itl_per_chunk) == 2


def test_cumulative_stream_is_read_the_same_way():
    events = [
        (0.01, {"text": "a", "output_ids": [1], "meta_info": _meta(1)}),
        (0.02, {"text": "ab", "output_ids": [1, 2], "meta_info": _meta(2)}),
        (0.03, {"text": "abc", "output_ids": [1, 2, 3], "meta_info": _meta(3, finish_reason=None)}),
    ]
    result = result_from_stream(events)
    assert result.text == "abc" and result.output_ids == [1, 2, 3] and result.speculative is None
    assert result.ttft == 0.01 and result.tpot == (0.03 - 0.01) / 2


def test_sampling_params_use_sglang_names():
    params = SamplingParams(max_new_tokens=9, ignore_eos=True, seed=5)
    assert sampling_dict(params) == {
        "max_new_tokens": 9, "temperature": 0.0, "top_p": 1.0, "top_k": -1, "ignore_eos": True, "sampling_seed": 5,
    }  # fmt: skip


def test_logprobs_are_asked_only_when_wanted():
    assert logprob_arguments(SamplingParams()) == {}
    assert logprob_arguments(SamplingParams(logprobs=3)) == {"return_logprob": True, "top_logprobs_num": 3}
    assert "return_logprob" not in sampling_dict(SamplingParams(logprobs=3))  # an async_generate keyword


def _top(*pairs: tuple[float, int]) -> list[tuple[float, int, None]]:
    return [(logprob, token, None) for logprob, token in pairs]


def test_logprobs_from_an_incremental_stream_with_a_speculative_chunk():
    """meta_info.output_token_logprobs: (logprob, token_id, text or None) per new token;
    output_top_logprobs: a list of such tuples per position (SGLang's tokenizer manager)."""
    events = [
        (0.01, {"text": "a", "output_ids": [11], "meta_info": _meta(1, output_token_logprobs=[(-0.1, 11, None)],
                output_top_logprobs=[_top((-0.1, 11), (-2.0, 5))])}),
        (0.02, {"text": "bc", "output_ids": [12, 13], "meta_info": _meta(3, output_token_logprobs=[
                (-0.5, 12, None), (-0.05, 13, None)], output_top_logprobs=[_top((-0.9, 4), (-0.5, 12)),
                _top((-0.05, 13), (-3.5, 2))])}),
    ]  # fmt: skip
    result = result_from_stream(events)
    assert [(p.token, p.logprob) for p in result.logprobs] == [(11, -0.1), (12, -0.5), (13, -0.05)]
    assert result.logprobs[1].top == ((12, -0.5), (4, -0.9))  # sorted most likely first
    assert result.logprobs[0].margin == 1.9 and result.logprobs[2].text is None


def test_logprobs_from_a_cumulative_stream_with_texts_and_none_without_them():
    first = [(-0.2, 7, "x")]
    both = [*first, (-0.3, 8, "y")]
    events = [
        (0.01, {"text": "x", "output_ids": [7], "meta_info": _meta(1, output_token_logprobs=first)}),
        (0.02, {"text": "xy", "output_ids": [7, 8], "meta_info": _meta(2, output_token_logprobs=both,
                output_top_logprobs=[None, _top((-0.3, 8))])}),
    ]  # fmt: skip
    result = result_from_stream(events)
    assert [(p.token, p.text, p.top) for p in result.logprobs] == [(7, "x", ()), (8, "y", ((8, -0.3),))]
    assert result_from_stream([(0.01, {"text": "a", "output_ids": [1], "meta_info": _meta(1)})]).logprobs is None


def test_sglang_server_command_for_ascend_binds_loopback_and_lets_user_arguments_win():
    argv = FLAVOURS["sglang-server"].command(
        "/venv/bin/python", "/models/qwen2.5-14b", "qwen", 30001, "npu", ("--tp-size", "2", "--host", "127.0.0.1")
    )
    assert argv[:5] == ["/venv/bin/python", "-m", "sglang.launch_server", "--model-path", "/models/qwen2.5-14b"]
    line = " ".join(argv)
    assert "--host 127.0.0.1 --port 30001 --enable-cache-report" in line
    assert "--device npu --attention-backend ascend" in line and argv[-4:] == ["--tp-size", "2", "--host", "127.0.0.1"]
    assert FLAVOURS["sglang-server"].flush_path == "/flush_cache"


def test_vllm_server_command_reports_cached_tokens_and_flushes_with_reset_prefix_cache():
    argv = FLAVOURS["vllm-server"].command("python", "/m", "m", 8000, "cpu")
    assert argv[2] == "vllm.entrypoints.openai.api_server" and "--enable-prompt-tokens-details" in argv
    assert argv[-2:] == ["--dtype", "float32"] and FLAVOURS["vllm-server"].flush_path == "/reset_prefix_cache"


def test_a_launched_sglang_server_gets_the_capacity_planners_flags():
    """The same flags `pytest-ascend-llm plan` prints, for the model and the device memory given."""
    from pytest_ascend_llm.engines.openai_engine import planned_sglang_flags
    from pytest_ascend_llm.planning.capacity import plan_capacity
    from pytest_ascend_llm.planning.launch import sglang_command
    from pytest_ascend_llm.session import LLMSession
    from pytest_ascend_llm.settings import Settings

    settings = Settings.from_values({"engine": "sglang-server", "device": "cuda", "capacity_memory": "2"})
    session = LLMSession(settings)
    flags = planned_sglang_flags(session)
    source = session.source
    plan = plan_capacity(source.config, "float32", 2 * 2**30, 1, min(8192, source.max_positions))
    printed = sglang_command(plan, str(source.path), device="cuda")
    assert flags == printed[printed.index("--tp-size") : printed.index("--host")]
    assert flags[flags.index("--mem-fraction-static") + 1] == "0.9"
    on_cpu = LLMSession(Settings.from_values({"engine": "sglang-server", "device": "cpu"}))
    assert planned_sglang_flags(on_cpu) == []
