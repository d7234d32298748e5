"""The device layer on the CPU of this machine: parsing, memory counters and the synchronized timer."""

import time

import pytest
import torch

from pytest_ascend_llm.devices import open_device, parse_device
from pytest_ascend_llm.errors import LLMSetupError


@pytest.mark.parametrize("text", ["tpu", "npu:x", "cpu:1", "cuda:-1", "gpu"])
def test_unknown_device_strings_are_refused_with_the_accepted_forms(text):
    with pytest.raises(LLMSetupError, match="use auto, npu, npu:N, cuda, cuda:N or cpu"):
        parse_device(text)


def test_explicit_and_auto_specs():
    assert parse_device("npu:1").index == 1 and parse_device("npu:1").explicit
    assert not parse_device("auto").explicit


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_asking_for_an_absent_cuda_device_says_so():
    with pytest.raises(LLMSetupError, match="no CUDA device is usable"):
        open_device("cuda")


def test_cpu_memory_counters_see_an_allocation_and_the_peak_resets():
    device = open_device("cpu")
    device.reset_peak_memory()
    before = device.memory_allocated()
    block = torch.ones(256 * 2**20 // 4)  # 256 MiB, touched so it is resident; large enough that
    block += 1  # malloc cannot serve it from pages an earlier test freed but kept
    assert device.memory_allocated() - before > 200 * 2**20
    assert device.max_memory_allocated() >= device.memory_allocated()
    del block
    snapshot = device.memory()
    assert snapshot.total >= snapshot.free > 0


def test_timer_covers_the_work_inside_the_block():
    device = open_device("cpu")
    with device.timer() as timing:
        time.sleep(0.05)
    assert timing.seconds >= 0.05
