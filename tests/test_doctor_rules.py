"""The environment doctor's rules on injected environments (plain dicts): no NPU, no torch, no os.environ."""

import pytest

from pytest_ascend_llm.doctor.alloc_conf import parse_alloc_conf
from pytest_ascend_llm.doctor.cpu_fallback import aicpu_kernels, blocked_operators, fallback_operators
from pytest_ascend_llm.doctor.findings import Finding, check_environment, meaningless_for_benchmarks
from pytest_ascend_llm.doctor.values import strtol
from pytest_ascend_llm.doctor.variables import TIMING_DISTORTING, UNDOCUMENTED, VARIABLES


def finding(environ, topic, device_kind="npu"):
    matches = [f for f in check_environment(environ, device_kind) if f.topic == topic]
    assert len(matches) == 1, matches
    return matches[0]


# --- the table itself ----------------------------------------------------------------------------------------------


def test_every_variable_cites_a_source_and_says_what_it_does():
    for variable in VARIABLES:
        assert variable.source.startswith("https://"), variable.name
        assert variable.does, variable.name
    for entry in UNDOCUMENTED:
        assert entry.seen_in and entry.checked and entry.intended


def test_finding_to_dict():
    assert Finding("warn", "X", "m", None).to_dict() == {"level": "warn", "topic": "X", "message": "m", "source": None}


def test_empty_environment_on_npu_gives_only_advice():
    findings = check_environment({}, "npu")
    assert {f.topic for f in findings} == {"PYTORCH_NPU_ALLOC_CONF", "TASK_QUEUE_ENABLE"}
    assert all(f.level == "info" and f.source for f in findings)
    assert check_environment({}, "cpu") == []


def test_one_finding_per_variable_set():
    environ = {"TASK_QUEUE_ENABLE": "2", "ASCEND_LAUNCH_BLOCKING": "1", "UNRELATED": "x"}
    topics = [f.topic for f in check_environment(environ, "npu")]
    assert sorted(topics) == ["ASCEND_LAUNCH_BLOCKING", "PYTORCH_NPU_ALLOC_CONF", "TASK_QUEUE_ENABLE"]


# --- PYTORCH_NPU_ALLOC_CONF ----------------------------------------------------------------------------------------


def test_alloc_conf_parser_splits_like_c10():
    conf = parse_alloc_conf(
        " expandable_segments:True , roundup_power2_divisions:[256:1,512:2,>:8],max_split_size_mb=128"
    )
    assert conf.options == (("expandable_segments", "True"), ("roundup_power2_divisions", "[256:1,512:2,>:8]"))
    assert conf.malformed == ("max_split_size_mb=128",)
    assert conf.get("expandable_segments") == "True" and conf.get("page_size") is None


def test_alloc_conf_recommended_value_is_ok():
    result = finding({"PYTORCH_NPU_ALLOC_CONF": "expandable_segments:True"}, "PYTORCH_NPU_ALLOC_CONF")
    assert result.level == "ok"
    assert result.source.endswith("memory_management/PYTORCH_NPU_ALLOC_CONF.md")


def test_alloc_conf_typo_names_the_real_key():
    result = finding({"PYTORCH_NPU_ALLOC_CONF": "expandable_segment:True"}, "PYTORCH_NPU_ALLOC_CONF")
    assert result.level == "error"
    assert "did you mean expandable_segments?" in result.message
    assert "Unrecognized key" in result.message


def test_alloc_conf_equals_sign_and_lowercase_bool_are_errors():
    assert (
        "':' not '='" in finding({"PYTORCH_NPU_ALLOC_CONF": "max_split_size_mb=128"}, "PYTORCH_NPU_ALLOC_CONF").message
    )
    lower = finding({"PYTORCH_NPU_ALLOC_CONF": "expandable_segments:true"}, "PYTORCH_NPU_ALLOC_CONF")
    assert lower.level == "error" and "True or False" in lower.message


@pytest.mark.parametrize(
    "conf",
    [
        "expandable_segments:True,max_split_size_mb:256",
        "garbage_collection_threshold:1.5",
        "max_split_size_mb:10",
        "base_addr_aligned_kb:17",
        "page_size:2g",
        "roundup_power2_divisions:3",
        "per_process_memory_fraction:1.2",
    ],
)
def test_alloc_conf_documented_constraints(conf):
    assert finding({"PYTORCH_NPU_ALLOC_CONF": conf}, "PYTORCH_NPU_ALLOC_CONF").level == "error"


def test_alloc_conf_without_expandable_segments_gets_the_recommendation():
    result = finding({"PYTORCH_NPU_ALLOC_CONF": "page_size:1g"}, "PYTORCH_NPU_ALLOC_CONF")
    assert result.level == "ok" and "expandable_segments:True" in result.message
    assert "vllm-ascend" in result.message and "docs.sglang.io" in result.message


def test_both_allocator_variables_are_an_error():
    environ = {"PYTORCH_NPU_ALLOC_CONF": "expandable_segments:True", "PYTORCH_ALLOC_CONF": "expandable_segments:True"}
    assert finding(environ, "PYTORCH_ALLOC_CONF").level == "error"


def test_cuda_allocator_variable_on_npu_points_to_the_npu_one():
    result = finding({"PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}, "PYTORCH_CUDA_ALLOC_CONF")
    assert result.level == "warn" and "PYTORCH_NPU_ALLOC_CONF" in result.message
    assert finding({"PYTORCH_CUDA_ALLOC_CONF": "x"}, "PYTORCH_CUDA_ALLOC_CONF", "cuda").level == "info"


# --- dispatch: TASK_QUEUE_ENABLE and launch blocking ---------------------------------------------------------------


def test_task_queue_levels():
    assert finding({"TASK_QUEUE_ENABLE": "2"}, "TASK_QUEUE_ENABLE").level == "ok"
    zero = finding({"TASK_QUEUE_ENABLE": "0"}, "TASK_QUEUE_ENABLE")
    assert zero.level == "warn" and "dispatch" in zero.message


def test_task_queue_invalid_values():
    seven = finding({"TASK_QUEUE_ENABLE": "7"}, "TASK_QUEUE_ENABLE")
    assert seven.level == "error" and "should be 0, 1 or 2" in seven.message
    word = finding({"TASK_QUEUE_ENABLE": "true"}, "TASK_QUEUE_ENABLE")
    assert word.level == "error" and "as 0" in word.message


def test_launch_blocking_makes_benchmarks_meaningless():
    findings = check_environment({"ASCEND_LAUNCH_BLOCKING": "1", "TASK_QUEUE_ENABLE": "2"}, "npu")
    blocking = [f for f in findings if f.topic == "ASCEND_LAUNCH_BLOCKING"][0]
    assert blocking.level == "warn" and "not representative" in blocking.message
    assert meaningless_for_benchmarks(findings) == [blocking]
    queue = [f for f in findings if f.topic == "TASK_QUEUE_ENABLE"][0]
    assert "ignored" in queue.message


def test_launch_blocking_zero_and_words():
    assert finding({"ASCEND_LAUNCH_BLOCKING": "0"}, "ASCEND_LAUNCH_BLOCKING").level == "ok"
    # torch_npu reads the switch with strtol, so "true" does not block.
    assert finding({"ASCEND_LAUNCH_BLOCKING": "true"}, "ASCEND_LAUNCH_BLOCKING").level == "info"
    assert strtol("true") == 0 and strtol(" 2x") == 2


def test_cuda_launch_blocking_depends_on_the_device():
    environ = {"CUDA_LAUNCH_BLOCKING": "1"}
    assert meaningless_for_benchmarks(check_environment(environ, "cuda"))
    assert meaningless_for_benchmarks(check_environment(environ, None))
    on_npu = finding(environ, "CUDA_LAUNCH_BLOCKING")
    assert on_npu.level == "info" and "ASCEND_LAUNCH_BLOCKING" in on_npu.message
    assert not meaningless_for_benchmarks(check_environment(environ, "npu"))


def test_other_timing_distortions():
    environ = {"ASCEND_GLOBAL_LOG_LEVEL": "0", "PYTORCH_NO_NPU_MEMORY_CACHING": "1", "ASCEND_RT_LAUNCH_BLOCKING": "1"}
    topics = {f.topic for f in meaningless_for_benchmarks(check_environment(environ, "npu"))}
    assert topics == set(environ)
    assert finding({"ASCEND_GLOBAL_LOG_LEVEL": "3"}, "ASCEND_GLOBAL_LOG_LEVEL").level == "ok"
    assert finding({"ASCEND_GLOBAL_LOG_LEVEL": "9"}, "ASCEND_GLOBAL_LOG_LEVEL").level == "error"


def test_distorting_topics_warn_only_when_they_distort():
    harmless = {
        "ASCEND_LAUNCH_BLOCKING": "no",
        "ASCEND_RT_LAUNCH_BLOCKING": "0",
        "CUDA_LAUNCH_BLOCKING": "0",
        "ASCEND_GLOBAL_LOG_LEVEL": "1",
        "PYTORCH_NO_NPU_MEMORY_CACHING": "0",
    }
    assert set(harmless) == TIMING_DISTORTING
    for kind in ("npu", "cuda", None):
        assert meaningless_for_benchmarks(check_environment(harmless, kind)) == []


def test_ascend_variables_have_no_effect_on_cuda():
    result = finding({"ASCEND_LAUNCH_BLOCKING": "1"}, "ASCEND_LAUNCH_BLOCKING", "cuda")
    assert result.level == "info" and "no effect" in result.message


# --- devices -------------------------------------------------------------------------------------------------------


def test_rt_visible_devices():
    assert finding({"ASCEND_RT_VISIBLE_DEVICES": "2,3"}, "ASCEND_RT_VISIBLE_DEVICES").level == "ok"
    spaced = finding({"ASCEND_RT_VISIBLE_DEVICES": "1, 2,3"}, "ASCEND_RT_VISIBLE_DEVICES")
    assert spaced.level == "error" and "sees: 1" in spaced.message
    assert "Docker" in finding({"ASCEND_RT_VISIBLE_DEVICES": "0-3"}, "ASCEND_RT_VISIBLE_DEVICES").message
    assert finding({"ASCEND_RT_VISIBLE_DEVICES": "3,1"}, "ASCEND_RT_VISIBLE_DEVICES").level == "error"


def test_container_and_cuda_device_variables_on_npu():
    assert finding({"ASCEND_VISIBLE_DEVICES": "0"}, "ASCEND_VISIBLE_DEVICES").level == "info"
    assert finding({"CUDA_VISIBLE_DEVICES": "0"}, "CUDA_VISIBLE_DEVICES").level == "warn"
    both = {"CUDA_VISIBLE_DEVICES": "0", "ASCEND_RT_VISIBLE_DEVICES": "0"}
    assert finding(both, "CUDA_VISIBLE_DEVICES").level == "info"


# --- the other documented variables --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "level"),
    [
        ("HCCL_CONNECT_TIMEOUT", "600", "ok"),
        ("HCCL_CONNECT_TIMEOUT", "60", "error"),
        ("HCCL_EXEC_TIMEOUT", "1800", "ok"),
        ("HCCL_EXEC_TIMEOUT", "0", "warn"),
        ("HCCL_EXEC_TIMEOUT", "soon", "error"),
        ("HCCL_BUFFSIZE", "1024", "ok"),
        ("HCCL_BUFFSIZE", "0", "error"),
        ("HCCL_OP_EXPANSION_MODE", "AIV", "ok"),
        ("HCCL_OP_EXPANSION_MODE", "GPU", "warn"),
        ("HCCL_IF_IP", "10.0.0.1", "ok"),
        ("HCCL_IF_IP", "10.0.0.1,10.0.0.2", "error"),
        ("HCCL_SOCKET_IFNAME", "^=docker0,lo", "ok"),
        ("OMP_NUM_THREADS", "10", "info"),
        ("OMP_NUM_THREADS", "0", "error"),
        ("MKL_NUM_THREADS", "four", "error"),
        ("CPU_AFFINITY_CONF", "1,npu0:0-1,npu1:2-5,npu_affine:1", "ok"),
        ("CPU_AFFINITY_CONF", "3", "error"),
        ("CPU_AFFINITY_CONF", "2,npu0:5-1", "error"),
        ("ASCEND_SLOG_PRINT_TO_STDOUT", "1", "warn"),
        ("ASCEND_SLOG_PRINT_TO_STDOUT", "yes", "error"),
        ("INF_NAN_MODE_ENABLE", "1", "ok"),
        ("INF_NAN_MODE_ENABLE", "0", "warn"),
        ("INF_NAN_MODE_ENABLE", "2", "error"),
        ("COMBINED_ENABLE", "1", "info"),
        ("COMBINED_ENABLE", "on", "error"),
        ("ACL_OP_COMPILER_CACHE_MODE", "enable", "ok"),
        ("ACL_OP_COMPILER_CACHE_MODE", "force", "warn"),
        ("ACL_OP_COMPILER_CACHE_MODE", "enabled", "error"),
        ("STREAMS_PER_DEVICE", "16", "warn"),
        ("TORCH_NPU_WARNING_DISABLE", "1", "warn"),
        ("TORCH_NPU_FALLBACK_CPU_DISABLE", "1", "info"),
    ],
)
def test_value_rules(name, value, level):
    assert finding({name: value}, name).level == level


def test_cross_variable_rules():
    aiv = {"HCCL_OP_EXPANSION_MODE": "AIV", "HCCL_EXEC_TIMEOUT": "3600"}
    assert "1091" in finding(aiv, "HCCL_EXEC_TIMEOUT").message
    event = {"HCCL_EXEC_TIMEOUT": "1800", "HCCL_EVENT_TIMEOUT": "1800"}
    assert finding(event, "HCCL_EVENT_TIMEOUT").level == "error"
    nic = {"HCCL_IF_IP": "10.0.0.1", "HCCL_SOCKET_IFNAME": "eth0"}
    assert "precedence" in finding(nic, "HCCL_SOCKET_IFNAME").message


# --- undocumented names --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "intended"),
    [
        ("NPU_VISIBLE_DEVICES", "ASCEND_RT_VISIBLE_DEVICES"),
        ("HCCL_BUFFSIZE_MB", "HCCL_BUFFSIZE"),
        ("PYTORCH_NPU_ALLOC_CONFIG", "PYTORCH_NPU_ALLOC_CONF"),
    ],
)
def test_undocumented_variable_names_the_intended_one(name, intended):
    result = finding({name: "1"}, name)
    assert result.level == "warn"
    assert f"did you mean {intended}?" in result.message
    assert result.source.startswith("https://")
    assert result not in meaningless_for_benchmarks([result])


# --- CPU fallback warnings -----------------------------------------------------------------------------------------

# As printed by torch_npu's c10 base warning handler (VariableFallbackKernel.cpp, npu_cpu_fallback).
DISPATCHER_LINE = (
    "[W610 18:26:03.055846726 VariableFallbackKernel.cpp:250] Warning: CAUTION: The operator "
    "'aten::bitwise_left_shift.Tensor_out' is not currently supported on the NPU backend and will fall back to run "
    "on the CPU. This may have performance implications. (function npu_cpu_fallback)"
)
WRAPPED = (
    "[W] VariableFallbackKernel.cpp:250 Warning: CAUTION: The operator\n    'aten::cholesky_inverse' is not currently "
    "supported on the NPU backend\n    and will fall back to run on the CPU."
)
SPARSE = (
    "Warning: CPU fallback is allowed because TORCH_NPU_FALLBACK_CPU_DISABLE=0. Since the NPU interface does not "
    "support operator 'aten::_sparse_csr_sum.dim_dtype', the operator will fall back to CPU."
)
BLOCKED = (
    "RuntimeError: The operator 'aten::fmax.out' would execute its main computation on CPU through dispatcher "
    "backend fallback because no kernel is registered for the NPU PrivateUse1 backend, but CPU fallback is disabled "
    "by TORCH_NPU_FALLBACK_CPU_DISABLE=1."
)
AICPU = (
    "[rank1]:[W907 03:11:39.571834370 ArgSortKernelNpuOpApi.cpp:41] Warning: Warning: kernel [ArgSort] can not "
    "support dtype int32 or int64 on AiCore, Now this kernel is running on AiCpu.If you are more concerned about "
    "high-performance execution,please cast dtype to float32. (function operator())"
)


def test_fallback_operators_from_real_messages():
    log = f"INFO starting\n{DISPATCHER_LINE}\n{DISPATCHER_LINE}\nrank0 done"
    assert fallback_operators([log, WRAPPED, SPARSE, "unrelated"]) == [
        "aten::bitwise_left_shift.Tensor_out",
        "aten::cholesky_inverse",
        "aten::_sparse_csr_sum.dim_dtype",
    ]
    assert fallback_operators(
        [
            "Warning: CAUTION: The operator 'vllm::all_reduce' is not currently supported on the "
            "NPU backend and will fall back to run on the CPU."
        ]
    ) == ["vllm::all_reduce"]
    assert fallback_operators([BLOCKED, AICPU]) == []


def test_blocked_and_aicpu_messages():
    assert blocked_operators([BLOCKED, DISPATCHER_LINE]) == ["aten::fmax.out"]
    assert aicpu_kernels([AICPU, AICPU, DISPATCHER_LINE]) == ["ArgSort"]
