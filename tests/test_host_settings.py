"""Host settings read from fake /proc and /sys trees, injected environments, and this host for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_ascend_llm.doctor.host_settings import NOT_READABLE, NOT_SET, read_host_settings, timing_settings
from pytest_ascend_llm.doctor.report import Diagnosis, host_level, render

GOOD_ENV = {"LD_PRELOAD": "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "CPU_AFFINITY_CONF": "2"}


def _host(root: Path, governors: list[str], numa: str, thp: str, swap_total: int, swap_free: int, swappiness="0"):
    for index, governor in enumerate(governors):
        folder = root / f"sys/devices/system/cpu/cpu{index}/cpufreq"
        folder.mkdir(parents=True)
        (folder / "scaling_governor").write_text(governor + "\n")
    (root / "sys/devices/system/cpu/cpufreq").mkdir(parents=True)  # not a cpuN folder: ignored
    (root / "proc/sys/kernel").mkdir(parents=True)
    (root / "proc/sys/kernel/numa_balancing").write_text(numa + "\n")
    (root / "proc/sys/vm").mkdir(parents=True)
    (root / "proc/sys/vm/swappiness").write_text(swappiness + "\n")
    (root / "sys/kernel/mm/transparent_hugepage").mkdir(parents=True)
    modes = " ".join(f"[{mode}]" if mode == thp else mode for mode in ("always", "madvise", "never"))
    (root / "sys/kernel/mm/transparent_hugepage/enabled").write_text(modes + "\n")
    meminfo = f"MemTotal:       1000000 kB\nSwapTotal:      {swap_total} kB\nSwapFree:       {swap_free} kB\n"
    (root / "proc/meminfo").write_text(meminfo)
    return root


def _by_name(settings):
    return {setting.name: setting for setting in settings}


def test_a_good_host_is_ok_everywhere_a_recommendation_exists(tmp_path):
    root = _host(tmp_path, ["performance"] * 4, "0", "madvise", 0, 0)
    settings = _by_name(read_host_settings(root, GOOD_ENV))
    assert {name: s.ok for name, s in settings.items()} == {
        "cpu_governor": True,
        "numa_balancing": True,
        "transparent_hugepage": None,
        "swap_used": True,
        "vm.swappiness": True,
        "malloc_preload": True,
        "CPU_AFFINITY_CONF": True,
    }
    assert settings["cpu_governor"].value == "performance (all 4 cpus)"
    assert settings["transparent_hugepage"].value == "madvise"
    assert settings["malloc_preload"].value == "libjemalloc.so.2"
    assert all(s.source.startswith("https://") for s in settings.values())


def test_a_bad_host_is_named_setting_by_setting(tmp_path):
    root = _host(tmp_path, ["ondemand", "ondemand", "performance"], "1", "always", 2048 * 1024, 1024 * 1024, "60")
    settings = _by_name(read_host_settings(root, {}))
    assert [name for name, s in settings.items() if s.ok is False] == [
        "cpu_governor",
        "numa_balancing",
        "swap_used",
        "vm.swappiness",
        "malloc_preload",
        "CPU_AFFINITY_CONF",
    ]
    assert settings["cpu_governor"].value == "ondemand on 2 cpus, performance on 1 cpus"
    assert settings["transparent_hugepage"].value == "always"
    assert settings["swap_used"].value == "1024 MiB used of 2048 MiB"
    assert settings["malloc_preload"].value == settings["CPU_AFFINITY_CONF"].value == NOT_SET


def test_missing_files_are_not_readable_here_not_errors(tmp_path):
    settings = _by_name(read_host_settings(tmp_path, {}))
    for name in ("cpu_governor", "numa_balancing", "transparent_hugepage", "swap_used", "vm.swappiness"):
        assert settings[name].value == NOT_READABLE and settings[name].ok is None, name


@pytest.mark.parametrize(
    ("preload", "ok", "value"),
    [
        ("/usr/lib/libtcmalloc.so.4", True, "libtcmalloc.so.4"),
        ("/opt/a.so:/usr/local/Ascend/ascend-toolkit/latest/lib64/libjemalloc.so", True, "libjemalloc.so"),
        ("/opt/libfoo.so", False, "no jemalloc/tcmalloc in '/opt/libfoo.so'"),
    ],
)
def test_the_preloaded_allocator_is_read_from_ld_preload(tmp_path, preload, ok, value):
    setting = _by_name(read_host_settings(tmp_path, {"LD_PRELOAD": preload}))["malloc_preload"]
    assert (setting.ok, setting.value) == (ok, value)


@pytest.mark.parametrize(("conf", "ok"), [("1", True), ("2,npu0:0-3", True), ("0", False)])
def test_cpu_affinity_modes(tmp_path, conf, ok):
    assert _by_name(read_host_settings(tmp_path, {"CPU_AFFINITY_CONF": conf}))["CPU_AFFINITY_CONF"].ok is ok


def test_timing_settings_are_the_timing_relevant_values(tmp_path):
    root = _host(tmp_path, ["powersave"], "1", "never", 0, 0)
    assert timing_settings(root, {}) == {
        "cpu_governor": "powersave (all 1 cpus)",
        "numa_balancing": "1",
        "transparent_hugepage": "never",
        "swap_used": "no swap configured",
        "malloc_preload": NOT_SET,
        "CPU_AFFINITY_CONF": NOT_SET,
    }


def test_host_settings_warn_on_npu_hosts_only_and_never_block(tmp_path):
    root = _host(tmp_path, ["ondemand"], "1", "always", 0, 0)
    settings = read_host_settings(root, {})
    assert {host_level(s, "npu") for s in settings} == {"ok", "warn", "info"}
    assert {host_level(s, "cpu") for s in settings} == {"ok", "info"}
    lines = render(Diagnosis("npu", host=settings))
    assert "  WARN numa_balancing: 1; recommended 0  [https://docs.sglang.io/" in "\n".join(lines)
    assert lines[-1] == "OK to benchmark here."


def test_this_host_for_real_reads_or_says_not_readable():
    for setting in read_host_settings():
        assert setting.value and isinstance(setting.value, str)
        if setting.value == NOT_READABLE:
            assert setting.ok is None
        assert setting.ok in (True, False, None)
    assert set(timing_settings()) <= {s.name for s in read_host_settings()}
