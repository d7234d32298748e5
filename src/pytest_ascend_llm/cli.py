"""``pytest-ascend-llm plan``: will this model fit this card, and the SGLang command that deploys it.

Every user mistake ends as ``error: <one line>`` and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from pytest_ascend_llm.devices.spec_sheets import DeviceSpecSheet, known_names, lookup, suggest
from pytest_ascend_llm.errors import LLMSetupError
from pytest_ascend_llm.planning.capacity import (
    DTYPE_BYTES,
    check_concurrency,
    decode_ceiling_tokens_per_s,
    plan_capacity,
)
from pytest_ascend_llm.planning.launch import sglang_command, shell_line, transformers_settings

DESCRIPTION = "Will a model fit a card, and the SGLang command that deploys it."
UNITS = {"": 1, "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12}
UNITS.update({"kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40})


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so main() reports every mistake the same way."""

    def error(self, message: str):
        raise LLMSetupError(f"{message} (see {self.prog} --help)")


def parse_memory(text: str) -> int:
    """Bytes from "64GB" (decimal), "32GiB" (binary), "80e9" or a plain byte count."""
    match = re.fullmatch(r"\s*([0-9.]+(?:e[0-9]+)?)\s*([a-z]*)\s*", text.lower())
    if not match or match.group(2) not in UNITS:
        raise LLMSetupError(f"device memory {text!r} is not a size: write 64GB, 32GiB, 80e9 or a byte count")
    try:
        return int(float(match.group(1)) * UNITS[match.group(2)])
    except ValueError:
        raise LLMSetupError(f"device memory {text!r} is not a size: write 64GB, 32GiB, 80e9 or a byte count") from None


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pytest-ascend-llm", description=DESCRIPTION, allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    plan = commands.add_parser("plan", help="capacity plan and SGLang launch command", allow_abbrev=False)
    plan.add_argument("--model", metavar="DIR", help="folder holding config.json (default: the built-in model)")
    plan.add_argument("--dtype", default="bfloat16", choices=sorted(DTYPE_BYTES))
    memory = plan.add_mutually_exclusive_group(required=True)
    memory.add_argument("--device-memory", type=parse_memory, help="per device: 64GB, 32GiB, 80e9 or bytes")
    memory.add_argument("--device-name", help="looked up in the device table, e.g. Ascend910B2")
    plan.add_argument("--device", choices=("npu", "cuda"), help="SGLang device (default: from the name, else npu)")
    plan.add_argument("--tp", type=int, default=1, help="tensor parallel size")
    plan.add_argument(
        "--peak-bandwidth", type=float, metavar="GBPS", help="device memory bandwidth for the decode ceiling"
    )
    plan.add_argument("--context-length", type=int, help="default: the model's max_position_embeddings")
    plan.add_argument("--mem-fraction-static", type=float, default=0.9)
    plan.add_argument("--concurrency", type=int, help="refuse the plan unless this many full sequences fit")
    plan.add_argument("--host", default="127.0.0.1")
    plan.add_argument("--port", type=int, default=30000)
    plan.add_argument("--json", action="store_true", help="print the plan as JSON")
    report = commands.add_parser("report", help="build the report from a results file", allow_abbrev=False)
    report.add_argument("results", metavar="RESULTS.jsonl", help="the results file a run wrote (--llm-results)")
    report.add_argument("--out", default="ascend-llm-report", metavar="DIR", help="folder for report.md, .html, PNGs")
    report.add_argument("--run", metavar="ID", help="which run of the file (default: the last)")
    doctor = commands.add_parser("doctor", help="cards, environment and stack: is this host fit to benchmark?")
    doctor.add_argument("--device", default="auto", choices=("auto", "npu", "cuda", "cpu"))
    doctor.add_argument("--json", action="store_true", help="print the diagnosis as JSON")
    doctor.add_argument("--no-stack", action="store_true", help="skip importing torch to read the stack")
    doctor.add_argument(
        "--host-root", default="/", metavar="DIR", help="read /proc and /sys under DIR (a container's view, tests)"
    )
    return parser


def _doctor(args: argparse.Namespace) -> int:
    """Exit 1 when something would make a benchmark meaningless (see doctor/report.py)."""
    import json

    from pytest_ascend_llm.doctor.report import detect_kind, diagnose, render

    diagnosis = diagnose(detect_kind(args.device), with_stack=not args.no_stack, host_root=Path(args.host_root))
    if args.json:
        print(json.dumps(diagnosis.to_dict(), indent=2, default=str))
    else:
        print("\n".join(render(diagnosis)))
    return 1 if diagnosis.blocking else 0


def _report(args: argparse.Namespace) -> int:
    """Rebuild a run's report from its results file alone (after a crash, or on another machine)."""
    from pytest_ascend_llm.reporting.build import build_report
    from pytest_ascend_llm.reporting.results_file import last_run

    try:
        records = last_run(args.results, args.run)
    except OSError as error:
        raise LLMSetupError(f"cannot read {args.results} ({error.strerror}): pass the --llm-results file") from None
    if not records and args.run:
        held = _run_ids(args.results)
        which = f"the runs {', '.join(held)}" if held else "no run"
        raise LLMSetupError(f"{args.results} holds no run {args.run!r}, only {which}: pass --run one of them")
    if not records:
        raise LLMSetupError(f"{args.results} holds no records of any run: is it a results file (--llm-results)?")
    written = build_report(records, args.out)
    tests = sum(record.get("kind") == "test" for record in records)
    print(f"{written}: {tests} tests of run {records[0].get('run')}")
    return 0


def _run_ids(path: str) -> list[str]:
    """The run ids a results file holds, in the order they were written."""
    from pytest_ascend_llm.reporting.results_file import read_records

    return list(dict.fromkeys(str(record["run"]) for record in read_records(path) if record.get("run")))


def _read_model(directory: str | None) -> tuple[dict, str, str]:
    """(config, model id, path) from a folder's config.json, or the built-in model."""
    if directory is None:
        from pytest_ascend_llm.models.source import inspect_model_dir

        source = inspect_model_dir(None)
        return source.config, source.model_id, str(source.path)
    path = Path(directory).expanduser()
    config_file = path / "config.json"
    if not config_file.is_file():
        raise LLMSetupError(f"{config_file} does not exist: pass --model the folder holding the model's config.json")
    try:
        return json.loads(config_file.read_text()), path.name, str(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise LLMSetupError(f"{config_file} is not valid JSON ({error}): re-download the model") from None


def _device(args: argparse.Namespace) -> tuple[int, str, DeviceSpecSheet | None]:
    """Bytes per device, the SGLang device the card implies, and the card's table row (if named)."""
    if args.device_name is None:
        return args.device_memory, args.device or "npu", None
    sheet = lookup(args.device_name)
    if sheet is None:
        raise LLMSetupError(_unknown_device(args.device_name))
    if not sheet.memory_bytes:
        raise LLMSetupError(f"the table has no memory size for {sheet.name} (it differs by card): pass --device-memory")
    return sheet.memory_bytes, args.device or ("cuda" if sheet.name.startswith("NVIDIA") else "npu"), sheet


def _unknown_device(name: str) -> str:
    """One line: the name refused, what it may have meant, and every name the table knows."""
    near = suggest(name)
    meant = f"did you mean {' or '.join(near)}? " if near else ""
    return (
        f"device {name!r} is not in the device table (names match exactly, as torch prints them): {meant}"
        f"pass --device-name one of {', '.join(known_names())}; or pass --device-memory and --peak-bandwidth instead"
    )


def _ceiling_line(plan, args: argparse.Namespace, sheet: DeviceSpecSheet | None) -> str:
    """The batch-1 decode ceiling, and what bandwidth it rests on."""
    if args.peak_bandwidth:
        bandwidth, basis = args.peak_bandwidth * 1e9, f"--peak-bandwidth {args.peak_bandwidth:g} GB/s"
    elif sheet is not None and sheet.bandwidth_bytes_per_s:
        bandwidth, basis = sheet.bandwidth_bytes_per_s, sheet.describe()
    else:
        return "batch-1 decode ceiling: unknown (no bandwidth): pass --peak-bandwidth GBPS or a known --device-name"
    empty = decode_ceiling_tokens_per_s(plan, bandwidth)
    full = decode_ceiling_tokens_per_s(plan, bandwidth, plan.context_length)
    return (
        f"batch-1 decode ceiling: {empty:.1f} tok/s at context 0, {full:.1f} tok/s at context "
        f"{plan.context_length} ({basis}); a faster claim is measuring something wrong"
    )


def _plan(args: argparse.Namespace) -> int:
    config, model_id, model_path = _read_model(args.model)
    memory, device, sheet = _device(args)
    plan = plan_capacity(
        config, args.dtype, memory, args.tp, args.context_length, args.mem_fraction_static, model_id=model_id
    )
    if args.concurrency is not None:
        check_concurrency(plan, args.concurrency)
    argv = sglang_command(plan, model_path, host=args.host, port=args.port, device=device)
    if args.json:
        document = {
            "plan": plan.to_dict(),
            "sglang": {"argv": argv, "command": shell_line(argv)},
            "transformers": transformers_settings(plan, model_path, device),
            "decode_ceiling": _ceiling_line(plan, args, sheet),
            "device_memory_source": sheet.describe_memory() if sheet else "--device-memory",
        }
        print(json.dumps(document, indent=2))
        return 0
    memory = [f"device memory: {sheet.describe_memory()}"] if sheet else []
    print("\n".join([*memory, *plan.summary_lines(), _ceiling_line(plan, args, sheet)]))
    print("SGLang:")
    print(shell_line(argv))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns the exit status instead of raising."""
    try:
        args = _parser().parse_args(argv)
        commands = {"report": _report, "doctor": _doctor, "plan": _plan}
        return commands[args.command](args)
    except LLMSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except SystemExit as leave:  # --help
        return leave.code if isinstance(leave.code, int) else 0
    except BrokenPipeError:  # piped into head: the reader has what it wanted
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
