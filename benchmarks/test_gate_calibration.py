"""How often the regression gate cries wolf, and how often it catches a real slowdown, on real rounds.

Records long series of real rounds on the built-in model, cuts each series into consecutive blocks of
30 rounds (one block = one session's case, so drift within the run stays in the data), and gates every
ordered pair of blocks against each other: an unchanged build. The same pairs with the later block's
times scaled by 1.3 give a synthetic 1.3x regression on real noise. Then real slower models (more
layers; a much wider model) are gated against the built-in model's blocks.

    pytest benchmarks/test_gate_calibration.py --llm-device cpu -s
"""

from __future__ import annotations

import itertools
import shutil

import pytest

from pytest_ascend_llm.benchmarking.gate import REGRESSED, judge, parse_rule
from pytest_ascend_llm.benchmarking.rounds import RoundLog
from pytest_ascend_llm.engines import SamplingParams
from pytest_ascend_llm.session import LLMSession
from pytest_ascend_llm.settings import Settings
from pytest_ascend_llm.suite.prompts import prompt_of_length

BLOCK = 30
SERIES = 390  # 13 blocks: 156 ordered pairs per case and rule
RULES = ("p50:10%", "p95:10%")


def _series(engine, device, case: str, rounds: int) -> list[float]:
    if case == "generation_32":
        prompt = engine.encode("Continue the story: the engineer upgraded the toolkit, ran the tests, and")
        params = SamplingParams(max_new_tokens=32, ignore_eos=True)
        log = RoundLog(lambda: engine.generate([prompt], params), lambda _: 0, device)
    else:
        prompt = prompt_of_length(engine.encode, 512)
        log = RoundLog(lambda: engine.prefill([prompt]), lambda _: 0, device)
    return log.run(None, 2, lambda done: len(done) < rounds)


def _blocks(series: list[float]) -> list[list[float]]:
    return [series[start : start + BLOCK] for start in range(0, len(series) - BLOCK + 1, BLOCK)]


def _flagged(pairs, rule: str, scale: float = 1.0) -> tuple[int, int]:
    parsed = parse_rule(rule)
    hits = sum(
        judge(
            "case", parsed, {"samples": {"round_seconds": a}}, {"samples": {"round_seconds": [x * scale for x in b]}}
        ).verdict
        == REGRESSED
        for a, b in pairs
    )
    return hits, len(pairs)


def _slower_model(tmp_path, builtin, name: str, **changes) -> str:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    folder = tmp_path / name
    kept = ("vocab_size", "max_position_embeddings", "eos_token_id", "pad_token_id", "tie_word_embeddings")
    shape = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads")
    config = Qwen2Config(**{key: builtin.config[key] for key in (*kept, *shape)} | changes)
    Qwen2ForCausalLM(config).save_pretrained(folder)
    for file in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(builtin.path / file, folder / file)
    return str(folder)


@pytest.mark.parametrize("case", ["generation_32", "prefill_512"])
def test_gate_false_alarms_and_detection_on_real_rounds(llm_session, tmp_path, capsys, case):
    series = _series(llm_session.engine, llm_session.device, case, SERIES)
    blocks = _blocks(series)
    pairs = list(itertools.permutations(blocks, 2))
    lines = [f"\n{case}: {len(series)} real rounds in {len(blocks)} blocks of {BLOCK}, {len(pairs)} ordered pairs"]
    for rule in RULES:
        alarms, total = _flagged(pairs, rule)
        caught, _ = _flagged(pairs, rule, scale=1.3)
        lines.append(
            f"  {rule}: unchanged build flagged {alarms}/{total} ({alarms / total:.1%}); "
            f"1.3x slower flagged {caught}/{total} ({caught / total:.1%})"
        )
    builtin = llm_session.source
    slower = {
        "8 layers instead of 4": _slower_model(tmp_path, builtin, "deeper", num_hidden_layers=8),
        "hidden 768, 6 layers": _slower_model(
            tmp_path,
            builtin,
            "wider",
            hidden_size=768,
            intermediate_size=2048,
            num_hidden_layers=6,
            num_attention_heads=8,
            num_key_value_heads=4,
        ),
    }
    baseline_median = sorted(series)[len(series) // 2]
    for label, folder in slower.items():
        with LLMSession(Settings.from_values({"device": "cpu", "model": folder})) as other:
            sessions = [_series(other.engine, other.device, case, BLOCK) for _ in range(3)]
        ratio = sorted(sum(sessions, []))[len(sessions) * BLOCK // 2] / baseline_median
        for rule in RULES:
            pairs_slow = [(a, b) for a in blocks for b in sessions]
            caught, total = _flagged(pairs_slow, rule)
            lines.append(f"  {label} (median {ratio:.2f}x): {rule} flagged {caught}/{total} ({caught / total:.0%})")
    with capsys.disabled():
        print("\n".join(lines))
    assert len(blocks) == SERIES // BLOCK
