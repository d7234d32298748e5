"""How often the regression gate cries wolf, and how often it catches a real slowdown, on real rounds.

Records long series of real rounds on the built-in model, cuts each series into consecutive blocks of
30 rounds (one block = one session's case, so drift within the run stays in the data), and gates every
ordered pair of blocks against each other: an unchanged build. The same pairs with the later block's
times scaled by 1.3 give a synthetic 1.3x regression on real noise (the host probe left as measured:
the host did not change, the build did). Then real slower models (more layers; a much wider model) are
gated against the built-in model's blocks. Each rate is given twice: as the gate judges (rounds at
equal host speed, from the host probe) and from the round times alone.

    pytest benchmarks/test_gate_calibration.py --llm-device cpu -s
"""

from __future__ import annotations

import itertools
import json
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


Series = tuple[list[float], list[float], list[float]]  # round seconds, host probe seconds, process CPU seconds


def _series(engine, device, case: str, rounds: int) -> Series:
    if case == "generation_32":
        prompt = engine.encode("Continue the story: the engineer upgraded the toolkit, ran the tests, and")
        params = SamplingParams(max_new_tokens=32, ignore_eos=True)
        log = RoundLog(lambda: engine.generate([prompt], params), lambda _: 0, device)
    else:
        prompt = prompt_of_length(engine.encode, 512)
        log = RoundLog(lambda: engine.prefill([prompt]), lambda _: 0, device)
    seconds = log.run(None, 2, lambda done: len(done) < rounds)
    recorded = log.case(case, seconds)
    return seconds, recorded.host_probe_seconds, recorded.round_cpu_seconds


def _blocks(series: Series) -> list[Series]:
    return [
        tuple(part[start : start + BLOCK] for part in series) for start in range(0, len(series[0]) - BLOCK + 1, BLOCK)
    ]


def _run(block: Series, scale: float, probe: bool) -> dict:
    """One session's saved samples, as the gate reads them; a slower build scales wall and CPU time."""
    rounds, probes, cpu = block
    samples = {"round_seconds": [x * scale for x in rounds], "round_cpu_seconds": [x * scale for x in cpu]}
    return {"samples": samples | ({"host_probe_seconds": probes} if probe else {})}


def _flagged(pairs, rule: str, scale: float = 1.0, probe: bool = True) -> str:
    parsed = parse_rule(rule)
    hits = sum(judge("case", parsed, _run(a, 1.0, probe), _run(b, scale, probe)).verdict == REGRESSED for a, b in pairs)
    return f"{hits}/{len(pairs)} ({hits / len(pairs):.1%})"


def _rates(pairs, rule: str, scale: float = 1.0) -> str:
    return f"{_flagged(pairs, rule, scale)}, round times alone {_flagged(pairs, rule, scale, probe=False)}"


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
    lines = [f"\n{case}: {len(series[0])} real rounds in {len(blocks)} blocks of {BLOCK}, {len(pairs)} ordered pairs"]
    for rule in RULES:
        lines.append(f"  {rule}: unchanged build flagged {_rates(pairs, rule)}")
        lines.append(f"  {rule}: 1.3x slower flagged {_rates(pairs, rule, scale=1.3)}")
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
    baseline_median = sorted(series[0])[len(series[0]) // 2]
    slower_series = {}
    for label, folder in slower.items():
        with LLMSession(Settings.from_values({"device": "cpu", "model": folder})) as other:
            sessions = [_series(other.engine, other.device, case, BLOCK) for _ in range(3)]
        slower_series[label] = sessions
        ratio = sorted(x for rounds, *_ in sessions for x in rounds)[len(sessions) * BLOCK // 2] / baseline_median
        for rule in RULES:
            pairs_slow = [(a, b) for a in blocks for b in sessions]
            lines.append(f"  {label} (median {ratio:.2f}x): {rule} flagged {_rates(pairs_slow, rule)}")
    (tmp_path / f"{case}.json").write_text(json.dumps({"series": series, "slower": slower_series}))
    lines.append(f"  raw series: {tmp_path / f'{case}.json'}")
    with capsys.disabled():
        print("\n".join(lines))
    assert len(blocks) == SERIES // BLOCK and all(len(probes) == BLOCK for _, probes, _ in blocks)
