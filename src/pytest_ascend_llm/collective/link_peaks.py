"""Published interconnect peaks, per direction, to hold a measured all-reduce busbw against.

nccl-tests' busbw is a unidirectional figure (doc/PERFORMANCE.md: "The measurement is of a
unidirectional bandwidth"), so each row stores the *per-direction* peak; vendors mostly print the
bidirectional sum (NVLink's "900 GB/s" is 450 GB/s each way), kept in ``headline`` as printed.

Topology decides what one rank can use. Through a switch (NVSwitch, the A3's HCCS/UB switches) every
rank drives its full port bandwidth whatever the world size. In a full mesh (Atlas 800T/800I A2: eight
NPUs, each pair wired by its own HCCS link) a rank talking to n−1 peers uses n−1 links, so the peak
is per-link × (n−1) and grows with the world size; beyond the mesh's size there is no single peak.

Device names match a row exactly (as devices/spec_sheets.py does: case, spaces, dashes, underscores ignored);
an unknown device, or a part sold with either HCCS or PCIe (Ascend910B4), has no peak: None, and
``describe_link_peak`` says "no link peak for …".
"""

from __future__ import annotations

from dataclasses import dataclass

from pytest_ascend_llm.devices.spec_sheets import normalize

NVIDIA_H100 = "https://www.nvidia.com/en-us/data-center/h100/"
NVIDIA_A100_DATASHEET = "https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf"
HIASCEND_A2_FULLMESH = "https://www.hiascend.com/doc_center/source/zh/Pytorch/60RC1/ptmoddevg/trainingmigrguide/performance_tuning_0034.html"
HIASCEND_A3_TOPOLOGY = (
    "https://www.hiascend.com/document/detail/en/mindcluster/730/clustersched/schedulingug/dl_affinity_0040.html"
)
CLOUDMATRIX384_PAPER = "https://arxiv.org/abs/2506.12708"


@dataclass(frozen=True)
class LinkPeak:
    """One interconnect: its per-direction peak (per link in a full mesh, per device through a switch)."""

    name: str
    per_direction_gbs: float
    topology: str  # "switch" or "full_mesh"
    headline: str  # the figure as the source prints it
    source: str
    aliases: tuple[str, ...]
    mesh_size: int = 0  # devices in one full mesh; 0 for a switch
    note: str = ""

    def busbw_peak_gbs(self, world_size: int) -> float | None:
        """The per-direction bandwidth one rank can use with ``world_size`` ranks; None where the ranks
        span more than one full mesh (the links between meshes are another, unlisted, interconnect)."""
        if self.topology == "switch":
            return self.per_direction_gbs
        if world_size < 2 or world_size > self.mesh_size:
            return None
        return self.per_direction_gbs * (world_size - 1)

    def describe(self, world_size: int) -> str:
        peak = self.busbw_peak_gbs(world_size)
        figure = f"{peak:g} GB/s per direction at {world_size} ranks" if peak is not None else "no single peak"
        return f"{self.name}: {figure} ({self.headline}; {self.source})"


LINK_PEAKS: tuple[LinkPeak, ...] = (
    LinkPeak(
        name="HCCS full mesh, Atlas 800T/800I A2 (Ascend 910B)",
        per_direction_gbs=28.0,
        topology="full_mesh",
        mesh_size=8,
        headline="392 GB/s HCCS per NPU = 7 links x 56 GB/s (both directions)",
        source=f"full mesh: Huawei {HIASCEND_A2_FULLMESH}; 392 GB/s: third-party (no vendor page found)",
        aliases=("Ascend910B1", "Ascend910B2", "Ascend910B2C", "Ascend910B3"),
        note="the widely quoted 392 GB/s is read as both directions over 7 links: 28 GB/s per link each way",
    ),
    LinkPeak(
        name="HCCS/UB switched, Atlas A3 (Ascend 910C die)",
        per_direction_gbs=196.0,
        topology="switch",
        headline="over 392 GB/s unidirectional UB bandwidth per Ascend 910C (two dies)",
        source=f"Huawei/SiliconFlow CloudMatrix384 paper {CLOUDMATRIX384_PAPER}; topology {HIASCEND_A3_TOPOLOGY}",
        aliases=tuple(f"Ascend910_93{n}" for n in ("91", "92", "81", "82", "72", "62")),
        note="torch_npu shows each die as a device: half the package's unidirectional figure per die",
    ),
    LinkPeak(
        name="NVLink 4 through NVSwitch, H100 SXM",
        per_direction_gbs=450.0,
        topology="switch",
        headline="NVLink 900 GB/s (both directions)",
        source=f"NVIDIA H100 page {NVIDIA_H100}",
        aliases=("NVIDIA H100 80GB HBM3", "NVIDIA H100 SXM5 80GB"),
    ),
    LinkPeak(
        name="PCIe Gen5 x16, H100 PCIe",
        per_direction_gbs=64.0,
        topology="switch",
        headline="PCIe Gen5 128 GB/s (both directions)",
        source=f"NVIDIA H100 page {NVIDIA_H100}",
        aliases=("NVIDIA H100 PCIe",),
        note="cards joined by an NVLink bridge beat this; the check is a floor, so that only passes more",
    ),
    LinkPeak(
        name="PCIe Gen4 x16, A100 PCIe",
        per_direction_gbs=32.0,
        topology="switch",
        headline="PCIe Gen4 64 GB/s (both directions)",
        source=f"NVIDIA A100 datasheet {NVIDIA_A100_DATASHEET}",
        aliases=("NVIDIA A100 80GB PCIe", "NVIDIA A100-PCIE-40GB"),
    ),
)


def link_peak_for(device_name: str) -> LinkPeak | None:
    """The row whose aliases include ``device_name`` exactly (normalized), or None."""
    key = normalize(device_name)
    for peak in LINK_PEAKS:
        if key in {normalize(alias) for alias in peak.aliases}:
            return peak
    return None


def describe_link_peak(device_name: str, world_size: int) -> str:
    """The row and its peak at ``world_size``, or "no link peak for …" with why."""
    peak = link_peak_for(device_name)
    if peak is None:
        return f"no link peak for {device_name!r}: not in the interconnect table"
    if peak.busbw_peak_gbs(world_size) is None:
        return f"no link peak for {device_name!r} at {world_size} ranks: {peak.name} spans {peak.mesh_size} devices"
    return peak.describe(world_size)
