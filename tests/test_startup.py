"""Start-up and the first request: the core from Python on the built-in model, its floors, and the shipped
``-k startup`` cases in real pytest runs: both graph modes on CPU (first in the run, saved, printed, in the
report, then compared and held by a floor), an endpoint the session did not launch (the fake server), and a
launched vLLM CPU server. Timings are never asserted, only their structure (E2E at or after TTFT, GB/s =
bytes / seconds)."""

from __future__ import annotations

import json
import os

import pytest
from vllm_harness import NEEDS_VLLM, SERVER_ARGS, SERVER_ENV, VLLM_PYTHON

from pytest_ascend_llm.benchmarking.floors import check_floors, load_floors
from pytest_ascend_llm.benchmarking.startup import AlreadyServed, first_request, measure_startup
from pytest_ascend_llm.benchmarking.startup_lines import summary_line
from pytest_ascend_llm.engines.base import SamplingParams
from pytest_ascend_llm.session import LLMSession
from pytest_ascend_llm.settings import Settings
from pytest_ascend_llm.testing.fake_server import start_fake_server

SUITE = ("--pyargs", "pytest_ascend_llm.suite", "-p", "no:cacheprovider", "-p", "no:randomly")
CPU = ("--llm-device", "cpu", "--llm-rounds", "3")
PARAMS = SamplingParams(max_new_tokens=4, ignore_eos=True)
NOT_LAUNCHED = "launch → healthy not measured: this session did not launch the server"
STARTUP_FLOORS = """\
[[floor]]
case = "test_startup[*]"
max_load_s = 60.0
max_first_ttft_ms = 2000.0
max_first_over_warm_ttft = 3.0
"""


def _block(result) -> list[str]:
    """The start-up block's lines (basis, one per graph mode, the compared run's)."""
    lines = result.outlines
    start = next(i for i, line in enumerate(lines) if "ascend-llm start-up and the first request" in line)
    return [line for line in lines[start + 1 :] if line.startswith(("basis: ", "eager", "compiled", "default"))]


def _saved(storage) -> dict[str, dict]:
    [saved] = storage.rglob("*.json")
    return {b["name"].split("::")[-1]: b["extra_info"]["llm"] for b in json.loads(saved.read_text())["benchmarks"]}


def test_the_first_request_is_set_against_the_warm_ones_from_python():
    with LLMSession(Settings.from_values({"device": "cpu"})) as session:
        startup = measure_startup(session.engine, "Hello", PARAMS, "eager", session.loaded, warm_requests=3)
        with pytest.raises(AlreadyServed, match="the eager engine already served 4 request"):
            first_request(session.engine, "Hello", PARAMS, "eager")
    m = startup.metrics()
    assert m["first_e2e_s"] >= m["first_ttft_s"] > 0 and startup.first_tokens == 4 and m["warm_n"] == 3
    assert m["load_gbps"] == pytest.approx(m["load_bytes"] / m["load_s"] / 1e9)
    assert m["first_over_warm_ttft"] == pytest.approx(m["first_ttft_s"] / m["warm_ttft_p50_s"])
    assert m["first_over_warm_e2e"] == pytest.approx(m["first_e2e_s"] / m["warm_e2e_p50_s"])
    assert not {"compile_s", "launch_to_healthy_s", "healthy_to_first_token_s"} & set(m)
    assert summary_line(m).startswith("eager: load ") and "(n=3): first/warm TTFT " in summary_line(m)


def test_start_up_figures_are_held_by_floors(tmp_path):
    path = tmp_path / "floors.toml"
    path.write_text(STARTUP_FLOORS, encoding="utf-8")
    floors = load_floors(path)
    within = {"load_s": 6.0, "first_ttft_s": 0.5, "first_over_warm_ttft": 1.5}
    assert check_floors(floors, "suite::test_startup[eager]", None, within) == []
    over = check_floors(floors, "suite::test_startup[eager]", None, within | {"load_s": 61.0, "first_ttft_s": 2.5})
    assert [b.message.split(" (")[0] for b in over] == [
        "weights load 61.0 s is above the ceiling 60 s",
        "first request TTFT 2500.0 ms is above the ceiling 2000 ms",
    ]
    assert check_floors(floors, "suite::test_startup[compiled]", None, {"compile_s": 9.0}) == [], "absent: ignored"
    path.write_text('[[floor]]\ncase = "x"\nmax_load_seconds = 1\n', encoding="utf-8")
    with pytest.raises(Exception, match="did you mean max_load_s\\?"):
        load_floors(path)


def test_both_graph_modes_start_first_are_saved_printed_reported_compared_and_floored(pytester):
    storage, report = pytester.path / "runs", pytester.path / "report"
    first = pytester.runpytest_subprocess(
        *SUITE, *CPU, "-k", "startup or inference_greedy", "--llm-graph-mode", "both", "--llm-compile-backend",
        "eager", "-v", f"--llm-report={report}", f"--benchmark-storage=file://{storage}", "--benchmark-save=start",
    )  # fmt: skip
    assert first.ret == 0, first.stdout.str()[-3000:]
    ran = [line.split("::")[1].split(" ")[0] for line in first.outlines if " PASSED" in line and "::" in line]
    assert ran[:2] == ["test_startup[eager]", "test_startup[compiled]"] and len(ran) == 3, ran
    basis, eager, compiled = _block(first)
    assert basis.startswith("basis: first request against the P50 of the case's timed rounds")
    assert eager.startswith("eager: load ") and " GB/s; first request TTFT " in eager and "first/warm TTFT" in eager
    assert compiled.startswith("compiled: compile ") and "(eager: the first compiled call)" in compiled
    saved = _saved(storage)
    e, c = saved["test_startup[eager]"], saved["test_startup[compiled]"]
    assert e["first_e2e_s"] >= e["first_ttft_s"] > 0 and c["first_e2e_s"] >= c["first_ttft_s"] > 0
    assert e["load_gbps"] == pytest.approx(e["load_bytes"] / e["load_s"] / 1e9)
    assert c["compile_s"] > 0 and c["compile_backend"] == "eager" and "load_s" not in c
    assert any("weights loaded earlier in this session" in note for note in c["startup_notes"])
    assert e["warm_n"] == e["n"] == e["ttft_n"] and e["p50"] > 0, "the warm requests are the case's saved rounds"
    markdown = (report / "report.md").read_text()
    assert "## Start-up and the first request" in markdown and "| compiled | - | - |" in markdown

    floors = pytester.path / "floors.toml"
    floors.write_text('[[floor]]\ncase = "test_startup[*]"\nmax_first_over_warm_ttft = 0.000001\n')
    again = pytester.runpytest(
        *SUITE, *CPU, "-k", "startup", f"--benchmark-storage=file://{storage}", "--benchmark-compare=0001",
        f"--llm-floors={floors}",
    )  # fmt: skip
    again.assert_outcomes(failed=1, deselected=again.parseoutcomes()["deselected"])
    again.stdout.fnmatch_lines(["*below its floor: first/warm TTFT * is above the ceiling 1e-06× (*floors.toml:1)*"])
    compared = _block(again)[-1]
    assert compared.startswith("eager against the compared run (one start per run: no verdict): load ")
    assert " → " in compared and "first/warm TTFT" in compared


def test_an_endpoint_the_session_did_not_launch_says_so_in_one_line(pytester):
    with start_fake_server("--ttft", "0.005", "--itl", "0.001") as server:
        endpoint = ("--llm-engine", "openai", "--llm-endpoint", server.url)
        result = pytester.runpytest(*SUITE, "-k", "startup", *endpoint)
        unbenchmarked = pytester.runpytest(*SUITE, "-k", "startup", *endpoint, "--benchmark-disable")
    result.assert_outcomes(passed=1, deselected=result.parseoutcomes()["deselected"])
    [_, line] = _block(result)
    assert line.startswith("default: first request TTFT ") and line.endswith(NOT_LAUNCHED)
    unbenchmarked.assert_outcomes(passed=1, deselected=unbenchmarked.parseoutcomes()["deselected"])
    unbenchmarked.stdout.fnmatch_lines(["*1 performance case(s) ran once as correctness checks*"])


@NEEDS_VLLM
def test_a_launched_vllm_server_reports_launch_to_healthy_and_healthy_to_first_token(pytester, monkeypatch, tmp_path):
    cache = os.environ.get("VLLM_CACHE_ROOT") or str(tmp_path / "vllm-cache")  # as vllm_harness.launched_vllm
    for name, value in (SERVER_ENV | {"VLLM_CACHE_ROOT": cache}).items():
        monkeypatch.setenv(name, value)
    result = pytester.runpytest(  # in process: the server is a process of its own anyway
        *SUITE, *CPU, "-k", "startup", "--llm-engine", "vllm-server", f"--llm-server-python={VLLM_PYTHON}",
        f"--llm-server-args={SERVER_ARGS}", "--llm-server-timeout", "600",
    )  # fmt: skip
    assert result.ret == 0, result.stdout.str()[-3000:]
    [_, line] = _block(result)
    assert line.startswith("default: launch → healthy ") and "; healthy → first token " in line
    assert " of it before the first request was sent); first request TTFT " in line and NOT_LAUNCHED not in line
