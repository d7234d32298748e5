"""Collective bandwidth: nccl-tests' formulas, the link-peak table, a real two-rank gloo sweep on CPU,
and the launcher's promise that a failing, hanging or interrupted sweep leaves no process behind."""

import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from pytest_ascend_llm.collective import launcher
from pytest_ascend_llm.collective.bandwidth import CollectiveResult, bus_factor, message_bytes
from pytest_ascend_llm.collective.launcher import default_world_size, run_collective
from pytest_ascend_llm.collective.link_peaks import LINK_PEAKS, describe_link_peak, link_peak_for
from pytest_ascend_llm.errors import LLMSetupError

KIB, MIB = 1 << 10, 1 << 20


def _children() -> set[int]:
    return {child.pid for child in psutil.Process().children(recursive=True)}


def _running(pid: int) -> bool:
    """Alive and not a zombie (a container's init may leave killed orphans unreaped)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# --- formulas (nccl-tests doc/PERFORMANCE.md) -------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "ranks", "factor"),
    [("all_reduce", 2, 1.0), ("all_reduce", 8, 1.75), ("all_gather", 2, 0.5), ("all_gather", 8, 0.875)],
)
def test_bus_factor_is_nccl_tests_correction(op, ranks, factor):
    assert bus_factor(op, ranks) == factor
    assert bus_factor("reduce_scatter", ranks) == bus_factor("all_gather", ranks)


def test_bus_factor_rejects_unknown_ops_and_empty_worlds():
    with pytest.raises(ValueError, match="unknown collective 'broadcast'"):
        bus_factor("broadcast", 2)
    with pytest.raises(ValueError, match="at least 1"):
        bus_factor("all_reduce", 0)


def test_message_bytes_are_whole_elements_and_all_gather_whole_shards():
    assert message_bytes("all_reduce", MIB, 3) == MIB
    assert message_bytes("all_reduce", 10, 2) == 8
    assert message_bytes("all_gather", MIB, 2) == MIB
    gathered = message_bytes("all_gather", MIB, 3)  # S is the whole gathered array: S/n per rank
    assert gathered % (4 * 3) == 0 and MIB - 12 < gathered <= MIB


def test_result_from_injected_times_follows_the_formulas_exactly():
    result = CollectiveResult.from_times("all_reduce", 4, 10**9, [0.5, 0.25, 2.0], "hccl", "npu", "all_reduce")
    assert result.median_s == 0.5
    assert result.algbw_gbs == 2.0  # 1e9 bytes / 0.5 s
    assert result.busbw_gbs == 2.0 * 1.5 == result.algbw_gbs * bus_factor("all_reduce", 4)
    gather = CollectiveResult.from_times("all_gather", 8, 8 * 10**6, [0.001], "nccl", "cuda")
    assert gather.algbw_gbs == 8.0 and gather.busbw_gbs == 8.0 * 7 / 8
    assert CollectiveResult.from_dict(result.to_dict()) == result
    line = result.describe()
    assert "\n" not in line and line.startswith("all_reduce 953.674 MiB x4 npu/hccl") and "busbw 3.00 GB/s" in line


def test_result_refuses_missing_or_nonpositive_times():
    with pytest.raises(ValueError, match="positive iteration times"):
        CollectiveResult.from_times("all_reduce", 2, MIB, [], "gloo", "cpu")
    with pytest.raises(ValueError, match="positive iteration times"):
        CollectiveResult.from_times("all_reduce", 2, MIB, [0.1, 0.0], "gloo", "cpu")


# --- link peaks -------------------------------------------------------------------------------------


def test_every_link_peak_names_a_source_and_a_per_direction_figure():
    for peak in LINK_PEAKS:
        assert "https://" in peak.source and peak.headline and peak.per_direction_gbs > 0
        assert peak.topology in ("switch", "full_mesh") and (peak.topology == "full_mesh") == (peak.mesh_size > 0)


def test_nvlink_busbw_is_compared_with_the_per_direction_half():
    peak = link_peak_for("NVIDIA H100 80GB HBM3")
    assert peak is not None and "900 GB/s" in peak.headline
    assert peak.busbw_peak_gbs(2) == peak.busbw_peak_gbs(8) == 450.0


def test_hccs_full_mesh_peak_grows_with_the_peers_and_stops_at_the_mesh():
    peak = link_peak_for("ascend910b2")  # names match ignoring case
    assert peak is not None and peak.topology == "full_mesh"
    assert [peak.busbw_peak_gbs(n) for n in (2, 4, 8)] == [28.0, 84.0, 196.0]
    assert peak.busbw_peak_gbs(16) is None
    assert describe_link_peak("Ascend910B2", 16).startswith("no link peak for 'Ascend910B2' at 16 ranks")
    assert link_peak_for("Ascend910_9391").busbw_peak_gbs(16) == 196.0


@pytest.mark.parametrize("name", ["Intel(R) Xeon(R) Processor", "Ascend910B4", "NVIDIA A100-SXM4-80GB"])
def test_unknown_or_ambiguous_devices_have_no_link_peak(name):
    assert link_peak_for(name) is None
    assert describe_link_peak(name, 2) == f"no link peak for {name!r}: not in the interconnect table"


# --- the real gloo path on CPU ----------------------------------------------------------------------


def test_two_gloo_ranks_on_cpu_sweep_every_op_and_size():
    before = _children()
    results = run_collective(2, "gloo", "cpu", sizes=(64 * KIB, MIB), iterations=3, timeout=120, warmup=1)
    assert [(r.op, r.message_bytes) for r in results] == [
        ("all_reduce", 64 * KIB),
        ("all_reduce", MIB),
        ("all_gather", 64 * KIB),
        ("all_gather", MIB),
    ]
    for result in results:
        assert (result.world_size, result.backend, result.device_kind) == (2, "gloo", "cpu")
        assert len(result.seconds) == 3 and min(result.seconds) > 0
        assert result.busbw_gbs == result.algbw_gbs * bus_factor(result.op, 2)
    assert {r.api for r in results if r.op == "all_gather"} <= {"all_gather_single", "all_gather_into_tensor"}
    assert _children() == before, "every worker exited and was reaped"


def test_cpu_default_world_is_two_ranks_and_one_rank_is_refused():
    assert default_world_size("cpu") == 2
    with pytest.raises(LLMSetupError, match="needs at least 2 ranks"):
        run_collective(1, "gloo", "cpu")


def test_a_bad_backend_fails_in_one_line_with_the_ranks_last_words_and_no_stray_process():
    before = _children()
    with pytest.raises(LLMSetupError) as caught:
        run_collective(2, "bogus", "cpu", sizes=(64 * KIB,), iterations=1, timeout=120)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("collective all_reduce/all_gather over 2 cpu rank(s) with bogus failed: rank ")
    assert "bogus" in message.split(": ", 2)[-1], "the failing rank's last stderr line"
    assert _children() == before


# --- failures, timeouts and Ctrl-C kill the whole tree ----------------------------------------------

FAKE_WORKER = textwrap.dedent(
    """
    import pathlib, subprocess, sys, time
    rank, folder = int(sys.argv[1]), pathlib.Path(sys.argv[2])
    if rank == 1 and (folder / "fail").exists():
        while not (folder / "grandchild0").exists():
            time.sleep(0.01)
        print("boom: the link to rank 0 is down", file=sys.stderr, flush=True)
        sys.exit(3)
    grandchild = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    print(f"rank {rank} waiting", flush=True)
    (folder / "partial").mkdir(exist_ok=True)
    (folder / "partial" / str(rank)).write_text(str(grandchild.pid))
    (folder / "partial" / str(rank)).rename(folder / f"grandchild{rank}")
    time.sleep(300)
    """
)


@pytest.fixture
def fake_workers(tmp_path, monkeypatch):
    """Workers that start a grandchild and hang (rank 1 fails instead when ``tmp_path/fail`` exists)."""
    script = tmp_path / "fake_worker.py"
    script.write_text(FAKE_WORKER)
    monkeypatch.setattr(
        launcher, "_worker_argv", lambda rank, port, out, sweep: [sys.executable, str(script), str(rank), str(tmp_path)]
    )
    return tmp_path


def _grandchildren(folder: Path) -> list[int]:
    return [int(path.read_text()) for path in sorted(folder.glob("grandchild*"))]


def _wait_for(paths, limit=60.0):
    deadline = time.monotonic() + limit
    while not all(path.exists() for path in paths) and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_failing_rank_names_itself_and_its_peers_tree_is_killed(fake_workers):
    (fake_workers / "fail").touch()
    before = _children()
    with pytest.raises(LLMSetupError) as caught:
        run_collective(2, "gloo", "cpu", timeout=120)
    assert str(caught.value).endswith("failed: rank 1 exited with code 3: boom: the link to rank 0 is down")
    assert _children() == before
    grandchildren = _grandchildren(fake_workers)
    assert len(grandchildren) == 1 and not any(_running(pid) for pid in grandchildren)


def test_a_timeout_kills_every_rank_and_grandchild(fake_workers, monkeypatch):
    real_wait = launcher._wait

    def wait_until_both_started(processes, logs, deadline, what):
        _wait_for([fake_workers / "grandchild0", fake_workers / "grandchild1"])
        return real_wait(processes, logs, time.monotonic(), what)  # the deadline has passed

    monkeypatch.setattr(launcher, "_wait", wait_until_both_started)
    before = _children()
    with pytest.raises(LLMSetupError) as caught:
        run_collective(2, "gloo", "cpu", timeout=60)
    message = str(caught.value)
    assert "\n" not in message and "did not finish in time: killed all ranks" in message
    assert message.endswith("rank 0 last printed: rank 0 waiting")
    assert _children() == before
    grandchildren = _grandchildren(fake_workers)
    assert len(grandchildren) == 2 and not any(_running(pid) for pid in grandchildren)


def test_ctrl_c_while_waiting_kills_the_tree_and_propagates(fake_workers, monkeypatch):
    def interrupted(processes, logs, deadline, what):
        _wait_for([fake_workers / "grandchild0", fake_workers / "grandchild1"])
        raise KeyboardInterrupt

    monkeypatch.setattr(launcher, "_wait", interrupted)
    before = _children()
    with pytest.raises(KeyboardInterrupt):
        run_collective(2, "gloo", "cpu", timeout=60)
    assert _children() == before
    assert not any(_running(pid) for pid in _grandchildren(fake_workers))


# --- the shipped case group -------------------------------------------------------------------------


def test_shipped_collective_group_passes_on_cpu_and_records_the_sweep(pytester):
    result = pytester.runpytest(
        "--pyargs",
        "pytest_ascend_llm.suite",
        "-k",
        "collective",
        "--llm-device",
        "cpu",
        "-p",
        "no:cacheprovider",
        "-rs",
        "--junitxml=collective.xml",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 2 and outcomes.get("skipped") == 1, outcomes
    assert "failed" not in outcomes and "error" not in outcomes
    result.stdout.fnmatch_lines(["SKIPPED*collective link peak: on CPU gloo runs over loopback*"])
    result.stdout.fnmatch_lines(
        [
            "*ascend-llm collective bandwidth*",
            "op * size * ranks * time (us) * algbw (GB/s) * busbw (GB/s)",
            "all_reduce * 1 MiB (1048576 B) * 2 * [0-9]*.[0-9] * [0-9]*.[0-9][0-9] * [0-9]*.[0-9][0-9]",
            "all_gather * 64 MiB (67108864 B) * 2 *",
            "on cpu/gloo; *busbw = algbw x 2(n-1)/n for all_reduce*",
        ]
    )
    report = (pytester.path / "collective.xml").read_text()
    assert report.count('<property name="collective"') == 2 and "busbw_gbs" in report


def test_exit_codes_are_read_without_reaping_so_group_ids_stay_ours():
    process = launcher._start([sys.executable, "-c", "import sys; sys.exit(7)"], None, None)
    deadline = time.monotonic() + 60
    while launcher.exit_code(process) is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert launcher.exit_code(process) == 7 and process.returncode is None
    assert psutil.Process(process.pid).status() == psutil.STATUS_ZOMBIE, "exited, not yet reaped"
    launcher.kill_workers([process])
    assert process.returncode == 7 and process.pid not in _children()
