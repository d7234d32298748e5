"""The shipped accuracy case in real pytest sessions against the fake OpenAI server, whose arithmetic is
right for a known share of prompts (``--answer-accuracy``): the Wilson line, the baseline band, the paired
comparison with a saved run, fixed floors (on accuracy and on a speed case), and requests the server
refuses counted as failed."""

from __future__ import annotations

import json
import random
import re

import pytest

from pytest_ascend_llm.testing.fake_server import start_fake_server

ACCURACY = ("--pyargs", "pytest_ascend_llm.suite.test_accuracy", "-p", "no:cacheprovider", "-p", "no:randomly")
PERFORMANCE = ("--pyargs", "pytest_ascend_llm.suite.test_performance", "-p", "no:cacheprovider", "-p", "no:randomly")
QUESTIONS = 200
LINE = re.compile(
    r"ascend-llm accuracy (?P<p>[\d.]+) \((?P<k>\d+)/(?P<n>\d+), 95% interval (?P<low>[\d.]+)–(?P<high>[\d.]+)\); "
    r"(?P<unparsable>\d+) unparsable, (?P<failed>\d+) failed"
)
PAIRED = re.compile(
    r"ascend-llm accuracy against the compared run: accuracy change (?P<change>[-+][\d.]+) "
    r"\(95% interval \S+ to \S+\) over "
    r"(?P<n>\d+) shared questions: (?P<wrong>\d+) newly wrong, (?P<right>\d+) newly right, McNemar exact p=(?P<p>\S+)"
)


def _questions(count: int, seed: int = 0) -> list[tuple[str, int]]:
    """``count`` distinct 'What is a * b + c?' questions with their answers."""
    rng, drawn = random.Random(seed), {}
    while len(drawn) < count:
        a, b, c = rng.randint(2, 99), rng.randint(2, 99), rng.randint(1, 999)
        drawn[f"What is {a} * {b} + {c}?"] = a * b + c
    return list(drawn.items())


def _write(path, questions) -> str:
    path.write_text("".join(json.dumps({"prompt": q, "answer": str(a)}) + "\n" for q, a in questions))
    return str(path)


@pytest.fixture(scope="module")
def question_set(tmp_path_factory) -> str:
    return _write(tmp_path_factory.mktemp("questions") / "arithmetic.jsonl", _questions(QUESTIONS))


@pytest.fixture(scope="module")
def server_70():
    with start_fake_server("--answer-accuracy", "0.7") as server:
        server.wait_listening()
        yield server


@pytest.fixture(scope="module")
def server_50():
    with start_fake_server("--answer-accuracy", "0.5") as server:
        server.wait_listening()
        yield server


def _against(server, question_set: str) -> tuple[str, ...]:
    return ("--llm-engine", "openai", "--llm-endpoint", server.url, "--llm-eval", question_set)


def _accuracy(result) -> re.Match[str]:
    found = [m for line in result.outlines if (m := LINE.fullmatch(line.strip()))]
    assert len(found) == 1, result.stdout.str()[-3000:]
    return found[0]


def _paired(result) -> re.Match[str]:
    found = [m for line in result.outlines if (m := PAIRED.fullmatch(line.strip()))]
    assert len(found) == 1, result.stdout.str()[-3000:]
    return found[0]


def _floors(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_the_accuracy_line_brackets_the_servers_accuracy_and_the_case_passes(pytester, server_70, question_set):
    result = pytester.runpytest(*ACCURACY, *_against(server_70, question_set))
    result.assert_outcomes(passed=1)
    line = _accuracy(result)
    k, n = int(line["k"]), int(line["n"])
    assert n == QUESTIONS and (line["unparsable"], line["failed"]) == ("0", "0")
    assert float(line["p"]) == pytest.approx(k / n, abs=5e-4)
    assert float(line["low"]) < 0.7 < float(line["high"]), line[0]
    assert float(line["low"]) < k / n < float(line["high"])


def test_an_interval_wholly_below_the_baseline_band_fails_with_the_band(pytester, server_70, question_set):
    band = ("--llm-eval-baseline", "0.95", "--llm-eval-tolerance", "0.02")
    result = pytester.runpytest(*ACCURACY, *_against(server_70, question_set), *band)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "accuracy 0.* (*/200, 95% interval *); 0 unparsable, 0 failed: the whole interval lies below the band "
            "0.930–0.970 (baseline 0.950 ± 0.020)"
        ]
    )


def test_an_interval_overlapping_the_band_passes(pytester, server_70, question_set):
    band = ("--llm-eval-baseline", "0.75", "--llm-eval-tolerance", "0.02")
    result = pytester.runpytest(*ACCURACY, *_against(server_70, question_set), *band)
    result.assert_outcomes(passed=1)
    assert "the whole interval lies" not in result.stdout.str()


def test_a_paired_drop_against_the_saved_run_fails_and_the_same_server_passes(
    pytester, server_70, server_50, question_set
):
    storage = f"--benchmark-storage=file://{pytester.path / 'runs'}"
    first = pytester.runpytest(*ACCURACY, *_against(server_70, question_set), storage, "--benchmark-save=base")
    first.assert_outcomes(passed=1)
    before = int(_accuracy(first)["k"])

    worse = pytester.runpytest(*ACCURACY, *_against(server_50, question_set), storage, "--benchmark-compare=0001")
    worse.assert_outcomes(failed=1)
    now = int(_accuracy(worse)["k"])
    paired = _paired(worse)
    assert int(paired["n"]) == QUESTIONS and int(paired["right"]) == 0, paired[0]
    assert int(paired["wrong"]) == before - now > 0, "the 0.5 server's right answers are a subset of the 0.7 one's"
    assert float(paired["p"]) < 0.05 and float(paired["change"]) == pytest.approx((now - before) / QUESTIONS)
    failure = [line for line in worse.outlines if line.startswith("a significant drop against the compared run: ")]
    assert len(failure) == 1 and "McNemar exact p=" in failure[0], worse.stdout.str()[-3000:]
    assert "changed: nothing" in worse.stdout.str(), "the same fake server: nothing in the stack changed"

    same = pytester.runpytest(*ACCURACY, *_against(server_70, question_set), storage, "--benchmark-compare=0001")
    same.assert_outcomes(passed=1)
    paired = _paired(same)
    assert (paired["wrong"], paired["right"], paired["n"]) == ("0", "0", str(QUESTIONS)), paired[0]
    assert float(paired["change"]) == 0 and float(paired["p"]) == 1
    assert int(_accuracy(same)["k"]) == before
    assert "significant drop" not in same.stdout.str()


def test_an_accuracy_floor_fails_naming_the_floor_file_and_line(pytester, server_70, question_set):
    floors = _floors(
        pytester.path / "floors.toml", '# accuracy\n\n[[floor]]\ncase = "test_accuracy*"\nmin_accuracy = 0.9\n'
    )
    result = pytester.runpytest(*ACCURACY, *_against(server_70, question_set), "--llm-floors", floors)
    result.assert_outcomes(failed=1)
    k = int(_accuracy(result)["k"])
    result.stdout.fnmatch_lines([f"below its floor: accuracy {k / QUESTIONS:.3g} is below the floor 0.9 ({floors}:3)"])

    met = _floors(pytester.path / "met.toml", '[[floor]]\ncase = "test_accuracy*"\nmin_accuracy = 0.5\n')
    passed = pytester.runpytest(*ACCURACY, *_against(server_70, question_set), "--llm-floors", met)
    passed.assert_outcomes(passed=1)


def test_the_built_in_model_without_a_question_set_skips_saying_why(pytester):
    result = pytester.runpytest(*ACCURACY, "--llm-device", "cpu", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*builtin:tiny-qwen2 has random weights: its accuracy says nothing; pass --llm-model*"]
    )


def test_requests_the_server_refuses_count_as_failed_and_wrong(pytester, tmp_path):
    """The fake server has no option to fail only some requests; a real refusal does: prompts longer than
    its context (400 Bad Request) fail, the rest are answered."""
    questions = _questions(40, seed=1)
    filler = " ".join(["word"] * 400) + " "
    long_ones = {question for question, _ in questions[:5]}
    lines = [(filler + q if q in long_ones else q, a) for q, a in questions]
    question_set = _write(tmp_path / "mixed.jsonl", lines)
    report = pytester.path / "report.json"
    with start_fake_server("--answer-accuracy", "1", "--max-model-len", "400") as server:
        server.wait_listening()
        result = pytester.runpytest(
            *ACCURACY, *_against(server, question_set), "--json-report", f"--json-report-file={report}"
        )
    result.assert_outcomes(passed=1)
    line = _accuracy(result)
    assert (line["k"], line["n"], line["unparsable"], line["failed"]) == ("35", "40", "0", "5"), line[0]
    [test] = json.loads(report.read_text())["tests"]
    [accuracy] = [entry["accuracy"] for entry in test["user_properties"] if "accuracy" in entry]
    assert accuracy["failed"] == 5 and accuracy["k"] == 35 and accuracy["n"] == 40


def test_a_speed_floor_fails_a_prefill_case_and_a_low_one_holds(pytester):
    fast = ("--llm-device", "cpu", "--llm-rounds", "5", "--llm-warmup", "1", "-k", "test_perf_prefill and ctx128")
    floor = _floors(pytester.path / "speed.toml", '[[floor]]\ncase = "test_perf_prefill[*]"\nmin_output_tok_s = 1e12\n')
    result = pytester.runpytest(*PERFORMANCE, *fast, "--llm-floors", floor)
    result.assert_outcomes(failed=1, deselected=result.parseoutcomes()["deselected"])
    result.stdout.fnmatch_lines([f"below its floor: output tok/s * is below the floor 1e+12 ({floor}:1)"])
    measured = re.search(r"output tok/s ([\d.e+]+) is below", result.stdout.str())
    assert measured is not None and 0 < float(measured[1]) < 1e12

    low = _floors(pytester.path / "low.toml", '[[floor]]\ncase = "test_perf_prefill[*]"\nmin_output_tok_s = 0.001\n')
    held = pytester.runpytest(*PERFORMANCE, *fast, "--llm-floors", low)
    held.assert_outcomes(passed=1, deselected=held.parseoutcomes()["deselected"])
    assert "below its floor" not in held.stdout.str()
