"""An LLM test session without pytest: settings → device → model → engine, each made once, lazily.

with LLMSession(Settings.from_values({"device": "cpu"})) as session:
    print(session.engine.generate(["Hello"], SamplingParams(max_new_tokens=8))[0].text)
"""

from __future__ import annotations

import shlex
from functools import cached_property

from pytest_ascend_llm.devices.base import Device
from pytest_ascend_llm.devices.detect import npu_unavailable_reason, open_device
from pytest_ascend_llm.devices.spec_sheets import DeviceSpecSheet, load_spec_file, lookup
from pytest_ascend_llm.engines.base import Engine
from pytest_ascend_llm.errors import LLMSetupError, ModelLoadFailedEarlier
from pytest_ascend_llm.models.source import ModelSource, inspect_model_dir
from pytest_ascend_llm.settings import Settings
from pytest_ascend_llm.torch_backend import prepare_torch


class LLMSession:
    """Holds what a run shares, made once each: settings → device → model source → loaded model →
    engine. ``open()`` validates device and model (raises LLMSetupError). What a run measures is not
    kept here (the pytest layer keeps it), so one session can serve any caller."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.load_count = 0
        self._loaded = None
        self._engines: dict[str | None, Engine] = {}  # by graph mode (None: the engine's own default)
        self.load_failure: str | None = None
        self.inventory_problem: str | None = None  # why npu-smi / nvidia-smi could not be read, once tried
        self.warnings: list[str] = []  # options the chosen engine does not use (preflight)

    def open(self, warnings: list[str] | None = None) -> LLMSession:
        """Check what needs no torch, then resolve the device and the model, so bad input fails before any test.
        ``warnings``: the preflight's, where the caller ran it before importing this module (the plugin does)."""
        from pytest_ascend_llm.preflight import check_before_torch

        self.warnings = check_before_torch(self.settings) if warnings is None else list(warnings)
        _ = self.device
        self._check_required_device()
        _ = self.source, self.spec_sheet, self.draft_source
        return self

    def _check_required_device(self) -> None:
        """--llm-require-device: device CI asks for the card, so a run that would fall back is an error."""
        wanted = self.settings.require_device
        if wanted is None or self.serves_over_http:
            return
        kind = self.device.kind
        if kind == wanted or (wanted == "accelerator" and self.device.is_accelerator):
            return
        why = self.npu_problem if wanted != "cuda" else "torch sees no usable CUDA device"
        raise LLMSetupError(
            f"{self.settings.source_of('require_device')} {wanted}: this run would use {kind}"
            + (f" ({why})" if why else "")
            + ": fix the device stack, or drop the option to let device tests skip"
        )

    @cached_property
    def npu_problem(self) -> str | None:
        return npu_unavailable_reason(prepare_torch())

    @property
    def serves_over_http(self) -> bool:
        """The model runs in a server (an endpoint, or one the session launches): its device is the server's."""
        from pytest_ascend_llm.engines.registry import SERVER_ENGINES

        return self.settings.engine in SERVER_ENGINES

    @property
    def model_in_engine(self) -> bool:
        """The engine holds the model itself (a server, or SGLang in-process): no transformers copy here."""
        return self.serves_over_http or self.settings.engine == "sglang"

    @cached_property
    def device(self) -> Device:
        if self.serves_over_http:
            from pytest_ascend_llm.devices.remote import RemoteDevice

            served_on = self.settings.device.kind if self.settings.device.explicit else None
            return RemoteDevice(self.settings.endpoint or self.settings.engine, served_on)
        device = open_device(self.settings.device, self.settings.source_of("device"))
        if device.kind == "cpu" or self.settings.cpu_threads:
            from pytest_ascend_llm.devices.cpu import apply_cpu_threads

            apply_cpu_threads(self.settings.cpu_threads)
        return device

    @cached_property
    def source(self) -> ModelSource:
        if self.settings.engine == "openai" and self.settings.model is None:
            return self._served_model()
        source = inspect_model_dir(self.settings.model, self.settings.source_of("model"))
        if not self.settings.trust_remote_code:
            from pytest_ascend_llm.models.loading import refuse_remote_code

            refuse_remote_code(source, self.settings.source_of("trust_remote_code"))
        return source

    def _served_model(self) -> ModelSource:
        """What an endpoint serves, from its /v1/models (no local files: --llm-model adds a tokenizer)."""
        from pytest_ascend_llm.models.source import remote_source
        from pytest_ascend_llm.serving.client import served_models

        engine = self.engine
        listed = {str(entry.get("id")): entry for entry in served_models(engine.endpoint)}
        entry = listed.get(engine.endpoint.model or "", {})
        return remote_source(engine.endpoint.model or "?", entry.get("max_model_len"))

    @cached_property
    def dtype_name(self) -> str:
        from pytest_ascend_llm.models.loading import dtype_name, resolve_dtype

        if self.serves_over_http:
            return "as served"
        return dtype_name(resolve_dtype(self.settings.dtype, self.device, self.source.config))

    @cached_property
    def spec_sheet(self) -> DeviceSpecSheet | None:
        """The device's peak figures: the user's spec file first, then the built-in table, by torch's
        device name or else by the card name npu-smi / nvidia-smi reads from the card itself."""
        extra = load_spec_file(self.settings.device_specs) if self.settings.device_specs else ()
        sheet = lookup(self.device.name(), extra)
        card = self.card
        if sheet is None and card is not None:
            sheet = lookup(card.name if card.kind == "cuda" else f"Ascend{card.name}", extra)
        return sheet

    @cached_property
    def inventory(self):
        """npu-smi's / nvidia-smi's view of the cards (None on CPU, for servers, or when the tool is
        unavailable: ``inventory_problem`` then says why)."""
        if self.device.kind not in ("npu", "cuda"):
            return None
        from pytest_ascend_llm.inventory.reading import read_inventory
        from pytest_ascend_llm.inventory.records import InventoryUnavailable

        try:
            return read_inventory(self.device.kind)
        except InventoryUnavailable as error:
            self.inventory_problem = str(error)
            return None

    @property
    def card_index(self) -> int:
        from pytest_ascend_llm.inventory.guard import physical_index

        return physical_index(self.device.kind, self.device.index)

    @property
    def card(self):
        """The first chip of the card under test, as the tool lists it, or None."""
        inventory = self.inventory
        cards = [c for c in inventory.cards if c.index == self.card_index] if inventory is not None else []
        return cards[0] if cards else None

    def busy_device_reason(self) -> str | None:
        """Why the card under test is not idle right now (a fresh reading), or None."""
        if self.inventory is None:
            return None
        from pytest_ascend_llm.inventory.guard import busy_reason, own_pids
        from pytest_ascend_llm.inventory.reading import read_inventory
        from pytest_ascend_llm.inventory.records import InventoryUnavailable

        try:
            now = read_inventory(self.device.kind)
        except InventoryUnavailable:
            return None
        ours = own_pids()
        mine = sum(p.memory_mb or 0 for p in now.processes if p.pid in ours and p.card_index == self.card_index)
        return busy_reason(now, self.card_index, ours, mine)

    def power_sampler(self):
        """A background power sampler for the card under test, or None where there is no reading."""
        if self.inventory is None or self.card is None or self.card.power_w is None:
            return None
        from pytest_ascend_llm.inventory.power import PowerSampler

        return PowerSampler(self.device.kind, self.card_index)

    @cached_property
    def table_bandwidth(self) -> float | None:
        """Peak bytes/s from --llm-peak-bandwidth or the spec table; None when unknown (e.g. CPUs)."""
        if self.settings.peak_bandwidth_gbps:
            return self.settings.peak_bandwidth_gbps * 1e9
        return self.spec_sheet.bandwidth_bytes_per_s if self.spec_sheet else None

    def roofline_basis(self) -> str:
        """Which peak the roofline and MBU rest on, in one line: the option, the table row, or none."""
        if self.serves_over_http:
            return "not applied: the model runs in a server, measured through HTTP (no weights or step times here)"
        if self.settings.peak_bandwidth_gbps:
            return f"peak {self.settings.peak_bandwidth_gbps:g} GB/s from {self.settings.source_of('peak_bandwidth')}"
        if self.table_bandwidth:
            return f"peak from {self.spec_sheet.describe()}"
        name = self.device.name()
        if self.spec_sheet is not None:
            return f"{self.spec_sheet.describe()} has no bandwidth: MBU against the measured copy bandwidth only"
        return (
            f"no table entry for {name!r}: MBU against the measured copy bandwidth only; "
            "pass --llm-peak-bandwidth GBPS for a peak"
        )

    @cached_property
    def measured_bandwidth(self) -> float:
        """Achieved device copy bandwidth, measured once per session."""
        from pytest_ascend_llm.metrics.roofline import measure_copy_bandwidth

        return measure_copy_bandwidth(self.device)

    @cached_property
    def draft_source(self) -> ModelSource | None:
        """--llm-draft-model, else the built-in model's 1-layer draft, else none."""
        if self.settings.draft_model:
            return inspect_model_dir(self.settings.draft_model, self.settings.source_of("draft_model"))
        return inspect_model_dir(self.source.draft_path) if self.source.draft_path else None

    @cached_property
    def draft_model(self):
        """The draft model for speculative decoding, on the same device and in the same dtype."""
        from pytest_ascend_llm.models.loading import load_causal_lm

        if self.draft_source is None:
            raise LLMSetupError(f"no draft model for {self.source.model_id}: pass --llm-draft-model DIR")
        return load_causal_lm(self.draft_source, self.device, self.loaded.dtype, self.settings.trust_remote_code)

    @property
    def loaded(self):
        """The model and tokenizer, loaded on first use and then shared by every test. A load that
        failed is not retried: later uses raise ModelLoadFailedEarlier pointing at the first error."""
        if self.load_failure is not None:
            raise ModelLoadFailedEarlier(self.load_failure)
        if self._loaded is None:
            from pytest_ascend_llm.models.loading import load_model

            try:
                self._loaded = load_model(
                    self.source, self.device, self.settings.dtype, self.settings.trust_remote_code
                )
            except LLMSetupError as error:
                self.load_failure = str(error)
                raise
            self.load_count += 1
        return self._loaded

    @property
    def engine(self) -> Engine:
        """The engine in the asked graph mode (with ``both``, eager; ``engine_in("compiled")`` is the other)."""
        mode = self.settings.graph_mode
        return self.engine_in("eager" if mode == "both" else mode)

    @property
    def graph_modes(self) -> tuple[str, ...]:
        """The graph modes this run has (``graph_modes_of`` its settings)."""
        return graph_modes_of(self.settings)

    def engine_in(self, mode: str | None) -> Engine:
        """The engine in one graph mode ('eager', 'compiled', or None / 'default' for the engine's own), made once.
        Launched servers of both modes run side by side (the session's engine stays usable for later cases),
        so each must fit beside the other: size them with --llm-server-args."""
        mode = None if mode == "default" or (mode == "eager" and self.settings.engine == "transformers") else mode
        if mode not in self._engines:
            from pytest_ascend_llm.engines.registry import engine_factory

            self._engines[mode] = engine_factory(self.settings.engine)(_InGraphMode(self, mode))
        return self._engines[mode]

    def graph_costs(self) -> dict[str, float]:
        """Seconds each engine made so far spent becoming ready in its graph mode: a compiled transformers
        model's first call (tracing, compilation), or a launched server's launch to healthy (capture)."""
        costs = {}
        for mode, engine in self._engines.items():
            for cost in ("compile_seconds", "startup_seconds"):
                if getattr(engine, cost, None) is not None:
                    costs[f"{mode or 'default'} {cost.split('_')[0]}"] = getattr(engine, cost)
        return costs

    @cached_property
    def environment(self):
        from pytest_ascend_llm.environment import capture_environment

        info = capture_environment(
            device=self.device,
            model_dir=self.source.path,
            model_id=self.source.model_id,
            dtype=self.dtype_name,
            engine=self.settings.engine,
            graph_mode=self.settings.graph_mode,
            engine_flags=shlex.split(self.settings.server_args or ""),
        )
        if self.serves_over_http:
            info.server = self.engine.server_info()
        if self.inventory is not None:
            info.inventory = self.inventory.to_dict()
        elif self.inventory_problem:
            info.inventory = {"unavailable": self.inventory_problem}
        return info

    def describe_device(self) -> str:
        """'cpu (Intel Xeon; not an NPU: …)' — says plainly when the run is not on an NPU."""
        if self.serves_over_http:
            return f"{self.device} (the device under test is the server's)"
        text = f"{self.device} ({self.device.name()}"
        if self.device.kind != "npu":
            how = "--llm-device given" if self.settings.device.explicit else "auto"
            text += f"; not an NPU, {how}"
        return text + ")"

    def close(self) -> None:
        for engine in self._engines.values():
            engine.close()
        self._engines = {}
        self._loaded = None

    def __enter__(self) -> LLMSession:
        return self.open()

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def graph_modes_of(settings: Settings) -> tuple[str, ...]:
    """The graph modes a run has: both, or the one it runs in ('default': a server's own choice;
    transformers' own is eager). Settings alone decide, so a suite can parametrize before the session opens."""
    mode = settings.graph_mode
    if mode == "both":
        return ("eager", "compiled")
    return (mode or ("eager" if settings.engine == "transformers" else "default"),)


class _InGraphMode:
    """The session as an engine sees it, in one graph mode (the EngineContext of ``engine_in``)."""

    def __init__(self, session: LLMSession, mode: str | None) -> None:
        self._session, self.graph_mode = session, mode

    def __getattr__(self, name: str):
        return getattr(self._session, name)
