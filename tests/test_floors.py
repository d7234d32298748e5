"""Fixed floors: the TOML file (every error message names file, line and fix), matching by case and device, and
breaches, unchecked floors and passes on injected metrics."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from pytest_ascend_llm.benchmarking.floors import MEASURES, check_floors, load_floors
from pytest_ascend_llm.benchmarking.results import CaseResult
from pytest_ascend_llm.benchmarking.startup import Startup
from pytest_ascend_llm.engines.base import GenerationResult
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.metrics.timing import TokenChunk

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "floors-qwen2.5-14b-atlas-800t-a2.toml"
CASE = "suite/test_performance.py::test_perf_generation_end_to_end[chat]"
FLOORS = """\
# floors for the 910B
[[floor]]
case = "test_perf_generation_end_to_end[*]"
device = "Ascend910B*"
min_output_tok_s = 1200.0
max_ttft_p95_ms = 180.0
max_tpot_p95_ms = 25
min_accuracy = 0.84

[[floor]]
case = "test_perf_decode_step[*]"
max_tpot_p50_ms = 30.0
"""


def write(tmp_path: Path, text: str, name: str = "floors.toml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(LLMSetupError) as caught:
        load_floors(write(tmp_path, text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def good_metrics(**changes: object) -> dict[str, object]:
    metrics: dict[str, object] = {
        "n": 30,
        "p95": 2.0,
        "tokens_per_s": 1500.0,
        "ttft_n": 30,
        "ttft_p95": 0.120,
        "tpot_n": 30,
        "tpot_p50": 0.018,
        "tpot_p95": 0.020,
        "accuracy": 0.9,
        "unresolved": [],
    }
    return metrics | changes


# Loading ----------------------------------------------------------------------------------------------------------


def test_floors_load_with_their_header_lines_patterns_and_limits(tmp_path):
    floors = load_floors(write(tmp_path, FLOORS))
    first, second = floors
    assert len(floors) == 2
    assert (first.case, first.device, first.line) == ("test_perf_generation_end_to_end[*]", "Ascend910B*", 2)
    assert dict(first.limits) == {
        "min_output_tok_s": 1200.0,
        "max_ttft_p95_ms": 180.0,
        "max_tpot_p95_ms": 25.0,
        "min_accuracy": 0.84,
    }
    assert (second.device, second.line, second.where) == (None, 10, f"{tmp_path / 'floors.toml'}:10")


def test_the_shipped_example_loads_and_says_its_numbers_are_placeholders():
    floors = load_floors(EXAMPLE)
    assert len(floors) >= 2
    assert all(floor.limits for floor in floors)
    text = EXAMPLE.read_text(encoding="utf-8")
    assert "PLACEHOLDER: replace with your own measured baseline" in text
    assert "Qwen2.5-14B-Instruct" in text and "Atlas 800T A2" in text
    lines = text.splitlines()
    assert all(lines[floor.line - 1].strip() == "[[floor]]" for floor in floors)


def test_every_limit_key_names_a_metric_a_case_result_reports():
    """Keys are checked against what CaseResult.metrics() really produces, so a renamed metric cannot leave a
    floor silently ignored."""
    chunks = [TokenChunk(0.05), TokenChunk(0.07, 2), TokenChunk(0.09)]
    request = GenerationResult(prompt_tokens=4, output_ids=[1, 2, 3, 4], text="", chunks=chunks)
    reported = set(CaseResult("c", [0.1] * 25, [10] * 25, requests=[request] * 25).metrics()) | {"accuracy"}
    started = Startup("compiled", 0.2, 0.5, 4, load_s=3.0, load_bytes=2**20, compile_s=9.0, launch_to_healthy_s=30.0)
    started.healthy_to_request_s, started.warm_ttft_p50_s, started.warm_e2e_p50_s, started.warm_n = 1.0, 0.1, 0.3, 5
    reported |= set(started.metrics())  # the start-up case's single-shot figures (suite/test_startup.py)
    assert {measure.metric for measure in MEASURES.values()} <= reported
    assert MEASURES["max_e2e_p95_ms"].metric == "p95"
    assert MEASURES["max_ttft_p95_ms"].metric == "ttft_p95"
    assert MEASURES["max_itl_chunk_p99_ms"].metric == "itl_chunk_p99"
    assert MEASURES["min_output_tok_s"].metric == "tokens_per_s"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", ":1: the file is empty: add [[floor]] tables"),
        ("   \n# only a comment\n", "no [[floor]] table: add one"),
        ('[[floor]]\ncase = "x"\nmin_output_tok_s = \n', ":3: not valid TOML (Invalid value"),
        ('[[floor]]\ncase = "x"\nmin_output_tok_s = 1\nmin_output_tok_s = 2\n', ":4: not valid TOML"),
        ('[floor]\ncase = "x"\nmin_output_tok_s = 1\n', ":1: write [[floor]] with two brackets"),
        ('title = "mine"\n[[floor]]\ncase = "x"\nmin_output_tok_s = 1\n', ":1: unknown top-level key 'title'"),
        ("[[floor]]\nmin_output_tok_s = 1\n", ":1: [[floor]] has no case: add case ="),
        ("[[floor]]\ncase = 3\nmin_output_tok_s = 1\n", ":2: case = 3: write a pattern in quotes"),
        ('[[floor]]\ncase = ""\nmin_output_tok_s = 1\n', ":2: case = '': write a pattern in quotes"),
        (
            '[[floor]]\ncase = "x"\ndevice = 910\nmin_output_tok_s = 1\n',
            ':3: device = 910: write a pattern in quotes, e.g. device = "Ascend910B*"',
        ),
        ('[[floor]]\ncase = "x"\n', ":1: [[floor]] sets no limit: add min_output_tok_s"),
        ('[[floor]]\ncase = "x"\nmin_output_tok_s = "fast"\n', ":3: min_output_tok_s = 'fast': write a number above 0"),
        ('[[floor]]\ncase = "x"\nmin_output_tok_s = true\n', ":3: min_output_tok_s = True: write a number above 0"),
        ('[[floor]]\ncase = "x"\nmax_ttft_p95_ms = -5\n', ":3: max_ttft_p95_ms = -5: write a number above 0"),
        ('[[floor]]\ncase = "x"\nmax_ttft_p95_ms = nan\n', ":3: max_ttft_p95_ms = nan: write a number above 0"),
        ('[[floor]]\ncase = "x"\nmin_accuracy = 84\n', ":3: min_accuracy = 84: write a number above 0 and at most 1"),
    ],
)
def test_every_problem_with_the_file_is_one_line_naming_file_line_and_fix(tmp_path, text, expected):
    message = error_of(tmp_path, text)
    assert message.startswith(str(tmp_path / "floors.toml"))
    assert expected in message


def test_an_unknown_key_names_its_own_line_and_the_nearest_known_key(tmp_path):
    text = '[[floor]]\ncase = "a"\nmin_output_tok_s = 1\n\n[[floor]]\ncase = "b"\n# ttft\nmax_ttft_p95 = 180\n'
    message = error_of(tmp_path, text)
    assert f"{tmp_path / 'floors.toml'}:8: unknown key 'max_ttft_p95' in [[floor]]" in message
    assert "did you mean max_ttft_p95_ms?" in message
    assert "max_<e2e|ttft|tpot|itl|itl_chunk>_<mean|p50|p90|p95|p99>_ms" in message


def test_a_missing_file_names_itself_and_the_example(tmp_path):
    with pytest.raises(LLMSetupError, match=r"nowhere\.toml: no such floors file: pass the path of an existing"):
        load_floors(tmp_path / "nowhere.toml")
    with pytest.raises(LLMSetupError, match="cannot be read"):
        load_floors(tmp_path)  # a directory


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "floors.toml"
    path.write_bytes(b'[[floor]]\ncase = "\xff"\n')
    with pytest.raises(LLMSetupError, match="cannot be read .*: pass a UTF-8 TOML file"):
        load_floors(path)


# Matching ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "case", "matches"),
    [
        ("test_perf_generation_end_to_end[*]", "test_perf_generation_end_to_end[chat]", True),
        ("test_perf_generation_end_to_end[*]", CASE, True),  # no '::' in the pattern: the module is not compared
        ("test_perf_generation_end_to_end[*]", "test_perf_generation_end_to_end", False),
        ("test_perf_generation_end_to_end[*]", "test_perf_generation_end_to_end_v2[chat]", False),
        ("test_perf_decode_step[?-*]", "test_perf_decode_step[8-4096]", True),
        ("test_perf_decode_step[?-*]", "test_perf_decode_step[16-4096]", False),
        ("test_perf_[*]", "test_perf_*", False),  # brackets are literal, not a character class
        ("suite/test_performance.py::test_perf_*", CASE, True),
        ("other.py::test_perf_*", CASE, False),
        ("*::test_perf_generation_end_to_end[chat]", CASE, True),
        ("Test_perf_generation_end_to_end[chat]", "test_perf_generation_end_to_end[chat]", False),
    ],
)
def test_case_patterns(tmp_path, pattern, case, matches):
    floors = load_floors(write(tmp_path, f'[[floor]]\ncase = "{pattern}"\nmin_output_tok_s = 1\n'))
    assert next(iter(floors)).matches(case, "cpu") is matches


@pytest.mark.parametrize(
    ("device", "name", "matches"),
    [
        ("Ascend910B*", "Ascend910B3", True),
        ("ascend910b*", "Ascend910B3", True),  # device names ignore case
        ("Ascend910B*", "Ascend910_9392", False),
        ("Ascend910B*", None, False),  # a device floor never matches an unknown device
        (None, None, True),
        (None, "NVIDIA H200", True),
    ],
)
def test_device_patterns(tmp_path, device, name, matches):
    line = f'device = "{device}"\n' if device else ""
    floors = load_floors(write(tmp_path, f'[[floor]]\ncase = "*"\n{line}min_output_tok_s = 1\n'))
    assert next(iter(floors)).matches("test_x", name) is matches


# Checking ---------------------------------------------------------------------------------------------------------


def test_a_case_within_its_floors_passes(tmp_path):
    floors = load_floors(write(tmp_path, FLOORS))
    assert check_floors(floors, CASE, "Ascend910B3", good_metrics()) == []


def test_breaches_name_the_measured_value_the_floor_and_its_place(tmp_path):
    floors = load_floors(write(tmp_path, FLOORS))
    where = f"{tmp_path / 'floors.toml'}:2"
    metrics = good_metrics(tokens_per_s=950.3, ttft_p95=0.2124, tpot_p95=0.0251, accuracy=0.812)
    breaches = check_floors(floors, CASE, "Ascend910B3", metrics)
    assert [str(b) for b in breaches] == [
        f"output tok/s 950.3 is below the floor 1200 ({where})",
        f"TTFT p95 212.4 ms is above the ceiling 180 ms ({where})",
        f"TPOT p95 25.1 ms is above the ceiling 25 ms ({where})",
        f"accuracy 0.812 is below the floor 0.84 ({where})",
    ]
    assert all(b.checked and b.where == where for b in breaches)
    assert breaches[0].metric == "tokens_per_s" and breaches[0].measured == 950.3 and breaches[0].bound == 1200
    assert breaches[1].measured == pytest.approx(212.4)


def test_a_value_exactly_on_the_floor_holds(tmp_path):
    floors = load_floors(write(tmp_path, FLOORS))
    metrics = good_metrics(tokens_per_s=1200, ttft_p95=0.180, tpot_p95=0.025, accuracy=0.84)
    assert check_floors(floors, CASE, "Ascend910B3", metrics) == []


def test_floors_of_another_device_or_case_do_not_apply(tmp_path):
    floors = load_floors(write(tmp_path, FLOORS))
    bad = good_metrics(tokens_per_s=1.0, tpot_p50=1.0)
    assert check_floors(floors, CASE, "NVIDIA H200", bad) == []
    assert check_floors(floors, "test_perf_prefill[512]", "Ascend910B3", bad) == []
    assert [b.metric for b in check_floors(floors, "test_perf_decode_step[1-512]", "NVIDIA H200", bad)] == ["tpot_p50"]


def test_every_matching_floor_applies(tmp_path):
    text = FLOORS + '\n[[floor]]\ncase = "*"\nmin_output_tok_s = 2000\n'
    breaches = check_floors(load_floors(write(tmp_path, text)), CASE, "Ascend910B3", good_metrics())
    assert [str(b) for b in breaches] == [
        f"output tok/s 1500.0 is below the floor 2000 ({tmp_path / 'floors.toml'}:14)"
    ]


def test_a_floor_on_a_metric_the_case_lacks_is_ignored(tmp_path):
    floors = load_floors(write(tmp_path, FLOORS))
    metrics = {"n": 30, "p95": 2.0, "tokens_per_s": 1500.0, "unresolved": [], "accuracy": None}
    assert check_floors(floors, CASE, "Ascend910B3", metrics) == []


def test_an_unresolved_percentile_is_unchecked_not_passed(tmp_path):
    floors = load_floors(write(tmp_path, FLOORS))
    metrics = good_metrics(ttft_n=12, ttft_p95=0.100, unresolved=["ttft_p95"])
    (note,) = check_floors(floors, CASE, "Ascend910B3", metrics)
    assert not note.checked and note.measured is None and note.metric == "ttft_p95"
    assert str(note) == (
        f"TTFT p95 cannot be checked against the ceiling 180 ms ({tmp_path / 'floors.toml'}:2): it rests on 12 samples "
        "and needs 21 to be more than the maximum; raise --llm-rounds (serving cases: --llm-serving-requests) to 21, "
        "or floor a lower percentile"
    )


def test_a_nan_measurement_is_unchecked(tmp_path):
    floors = load_floors(write(tmp_path, FLOORS))
    (note,) = check_floors(floors, CASE, "Ascend910B3", good_metrics(tokens_per_s=float("nan")))
    assert not note.checked
    assert str(note).startswith("output tok/s cannot be checked against the floor 1200 (")
    assert str(note).endswith("): the case measured no number")


def test_floors_check_the_metrics_of_a_real_case_result(tmp_path):
    """Round time in seconds against a floor in ms; 10 rounds leave p95 unresolved, 25 resolve it."""
    path = write(tmp_path, '[[floor]]\ncase = "test_x"\nmax_e2e_p50_ms = 150\nmax_e2e_p95_ms = 150\n')
    floors = load_floors(path)
    thin = CaseResult("test_x", [0.1] * 9 + [0.2], [10] * 10).metrics()
    assert [(b.metric, b.checked) for b in check_floors(floors, "test_x", None, thin)] == [("p95", False)]
    resolved = CaseResult("test_x", [0.1] * 20 + [0.2] * 5, [10] * 25).metrics()
    (breach,) = check_floors(floors, "test_x", None, resolved)
    assert str(breach) == f"e2e p95 200.0 ms is above the ceiling 150 ms ({path}:1)"
