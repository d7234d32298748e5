"""The prepared device check: a Qwen2.5-14B-Instruct-shaped model with random weights, built on the
device, saved, and run through the suite's compatibility and performance groups inside a fixed time.

    python benchmarks/device/run_device_check.py OUT_DIR [--device cuda|npu|cpu] [--tiny] [--minutes 8]

Random weights, because a device box has no network and a trained 14B checkpoint is not always there:
the shapes (and so the bytes moved, the memory held and the kernels run) are the real model's, the
answers are not, so the quality probes are deselected. The tokenizer is the built-in model's (1,273
ids, made offline); the output head's rows past its ids are zero, so greedy output is text it decodes.

The build runs in a child process: a parent holding a device context would show in nvidia-smi's /
npu-smi's process table, and the plugin's busy-device guard would then skip every performance case.
``--tiny`` runs the same flow on a small config (on the CPU by default), so the script itself can be
tried anywhere in under two minutes.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

SEED = 20261202
QWEN25_14B: dict[str, Any] = {  # Qwen/Qwen2.5-14B-Instruct's config.json, the fields that shape the work
    "hidden_size": 5120,
    "num_hidden_layers": 48,
    "num_attention_heads": 40,
    "num_key_value_heads": 8,
    "intermediate_size": 13824,
    "vocab_size": 152064,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-6,
    "tie_word_embeddings": False,
}
TINY = QWEN25_14B | {  # the same vocabulary, so the tokenizer and the output head take the same path
    "hidden_size": 128,
    "num_hidden_layers": 4,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 384,
    "max_position_embeddings": 4096,
}
# Per-case bound: 21 performance cases at up to 10 s each (a case stops at its bound after its current
# round) leave the compatibility checks and the 29.5 GB load their share of 8 minutes; on CPU 1 s.
CASE_SECONDS = {"accelerator": 10.0, "cpu": 1.0}
RESERVE_S = 60.0  # after the run's deadline: the case then running finishes its round, the report is built
MARKER = "device_check.json"  # in a model folder this script wrote, so a rerun may replace it
SELECTION = "(compatibility or performance) and not quality_probe"


def parameter_count(config: dict[str, Any]) -> int:
    """Qwen2's parameters from its shape (biases on q/k/v only), to size the disk before building."""
    hidden, vocab, layers = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    kv = hidden // config["num_attention_heads"] * config["num_key_value_heads"]
    attention = hidden * hidden + hidden + 2 * (hidden * kv + kv) + hidden * hidden
    per_layer = attention + 3 * hidden * config["intermediate_size"] + 2 * hidden
    return 2 * vocab * hidden + layers * per_layer + hidden


def check_disk(out: Path, params: int) -> None:
    """bfloat16 weights, the tokenizer and the results: stop in one line before building what cannot fit."""
    need = params * 2 + 2**30
    free = shutil.disk_usage(out).free
    if free < need:
        sys.exit(f"device check: {out} has {free / 1e9:.1f} GB free, the model needs {need / 1e9:.1f} GB")


def clear_model_dir(model_dir: Path) -> None:
    """Replace only a model this script wrote; never empty a folder someone else filled."""
    if (model_dir / MARKER).is_file():
        shutil.rmtree(model_dir)
    elif model_dir.exists() and any(model_dir.iterdir()):
        sys.exit(f"device check: {model_dir} holds files this script did not write: name an empty --model-dir")
    model_dir.parent.mkdir(parents=True, exist_ok=True)


def build(out: Path, model_dir: Path, device: str, tiny: bool) -> None:
    """In the child: construct on the device in bfloat16 (no CPU copy of 29.5 GB), save, write build.json."""
    from transformers import AutoTokenizer, Qwen2Config, Qwen2ForCausalLM

    from pytest_ascend_llm.models.builtin import ensure_builtin_model
    from pytest_ascend_llm.torch_backend import prepare_torch, torch

    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(ensure_builtin_model().target)  # offline, built from a recipe
    tokenizer_s = time.perf_counter() - started
    shape = TINY if tiny else QWEN25_14B
    assert len(tokenizer) <= shape["vocab_size"], "the built-in tokenizer's ids must fit the vocabulary"
    ids = {"eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id, "bos_token_id": None}
    config = Qwen2Config(**shape, **ids, dtype="bfloat16")
    torch.manual_seed(SEED)
    torch.set_default_dtype(torch.bfloat16)
    started = time.perf_counter()
    with torch.device(device):
        model = Qwen2ForCausalLM(config)
    with torch.no_grad():  # greedy output stays decodable text; every step still reads the whole head
        model.lm_head.weight[len(tokenizer) :].zero_()
    backend = getattr(torch, device, None) if device != "cpu" else None
    if backend is not None:
        backend.synchronize()
    build_s = time.perf_counter() - started
    model.generation_config.eos_token_id = ids["eos_token_id"]
    model.generation_config.pad_token_id = ids["pad_token_id"]
    params = sum(p.numel() for p in model.parameters())
    print(f"device check: built {params:,} parameters on {device} in bfloat16 in {build_s:.1f} s", flush=True)
    started = time.perf_counter()
    model.save_pretrained(model_dir, max_shard_size="4GB")  # shards of the published checkpoint's size
    tokenizer.save_pretrained(model_dir)
    save_s = time.perf_counter() - started
    weights = sum(f.stat().st_size for f in model_dir.glob("*.safetensors"))
    print(f"device check: saved {weights / 1e9:.2f} GB of safetensors in {save_s:.1f} s", flush=True)
    facts = {
        "params": params,
        "expected_params": parameter_count(shape),
        "weights_bytes": weights,
        "tokenizer_s": tokenizer_s,
        "build_s": build_s,
        "save_s": save_s,
        "build_peak_bytes": backend.max_memory_allocated() if backend is not None else None,
        "device_name": backend.get_device_name() if backend is not None else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "torch_npu": prepare_torch().version,
    }
    (out / "build.json").write_text(json.dumps(facts, indent=1))
    (model_dir / MARKER).write_text(json.dumps(facts, indent=1))


def pytest_command(out: Path, model_dir: Path, device: str, case_seconds: float, max_minutes: float) -> list[str]:
    command = [sys.executable, "-m", "pytest", "--pyargs", "pytest_ascend_llm.suite", "-k", SELECTION]
    command += ["--llm-model", str(model_dir), "--llm-device", device]
    command += ["--llm-results", str(out / "results.jsonl"), "--llm-report", str(out / "report")]
    command += ["--llm-case-seconds", f"{case_seconds:g}", "--llm-max-minutes", f"{max_minutes:.2f}"]
    command += ["-p", "no:cacheprovider", "-rs"]
    if importlib.util.find_spec("pytest_jsonreport") is not None:
        command += ["--json-report", "--json-report-file", str(out / "report.json")]
    return command


def run_logged(command: list[str], log: Path, backstop_s: float) -> tuple[int | None, str]:
    """Stream the command's output to the terminal and to ``log``; past the backstop, SIGINT (pytest then
    writes its end record and report), then SIGKILL. The results file keeps what finished either way."""
    print("device check: " + shlex.join(command), flush=True)
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)

        def pump() -> None:
            for line in process.stdout:
                sys.stdout.write(line)
                sink.write(line)

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        note = ""
        try:
            process.wait(timeout=max(backstop_s, 1.0))
        except subprocess.TimeoutExpired:
            note = f"interrupted at the {backstop_s:.0f} s backstop"
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                note = f"killed at the {backstop_s:.0f} s backstop"
        reader.join(timeout=5)
    return process.returncode, note


def _ms(value: Any) -> str:
    return f"{value * 1e3:.2f} ms" if isinstance(value, (int, float)) else "-"


def _case(tests: list[dict], name: str) -> dict | None:
    return next((t for t in tests if t.get("case", "").endswith(name)), None)


def _why_missing(record: dict | None, name: str) -> str:
    if record is None:
        return f"not measured ({name} did not run)"
    return f"not measured ({name} {record['outcome']}: {record.get('message') or 'no figures saved'})"


def decode_line(tests: list[dict], env: dict) -> str:
    """Batch-1 decode speed and its MBU, as the suite's roofline check saved them."""
    from pytest_ascend_llm.devices.spec_sheets import lookup

    name = "test_perf_decode_step[bs1-ctx128]"
    record = _case(tests, name)
    metrics = (record or {}).get("metrics") or {}
    if "tokens_per_s" not in metrics:
        return "decode bs1: " + _why_missing(record, name)
    row = lookup(env.get("device_name") or "")
    parts = []
    if metrics.get("mbu_table_bw") is not None and row is not None:
        parts.append(f"{metrics['mbu_table_bw']:.3f} of {row.describe()}")
    elif metrics.get("mbu_table_bw") is not None:
        parts.append(f"{metrics['mbu_table_bw']:.3f} of the table peak")
    else:
        parts.append(f"against a table peak: not measured (no table row for {env.get('device_name')!r})")
    if metrics.get("mbu_measured_bw") is not None:
        parts.append(f"{metrics['mbu_measured_bw']:.3f} of the copy bandwidth measured on the device")
    return (
        f"decode bs1 ({name}): {metrics['tokens_per_s']:.1f} tok/s, step P50 {_ms(metrics.get('p50'))} "
        f"(n={metrics.get('n')})\n  MBU: " + "; ".join(parts)
    )


def ttft_line(tests: list[dict]) -> str:
    name = "test_perf_generation_end_to_end[short_qa]"
    record = _case(tests, name)
    metrics = (record or {}).get("metrics") or {}
    if "ttft_p50" not in metrics:
        return "TTFT: " + _why_missing(record, name)
    unresolved = metrics.get("unresolved") or []
    p95 = _ms(metrics.get("ttft_p95")) + (" (max: P95 needs 21 samples)" if "ttft_p95" in unresolved else "")
    return f"TTFT ({name}): P50 {_ms(metrics['ttft_p50'])}, P95 {p95}, n={metrics.get('ttft_n')}"


def peak_line(tests: list[dict]) -> str:
    """The highest allocator peak any test saved: a performance case's, or a check's memory monitor."""
    peaks = []
    for test in tests:
        metrics, monitor = test.get("metrics") or {}, (test.get("properties") or {}).get("memory") or {}
        for value in (metrics.get("peak_memory_bytes"), monitor.get("peak_allocated_bytes")):
            if isinstance(value, (int, float)):
                peaks.append((value, test["case"].split("::")[-1]))
    if not peaks:
        return "peak device memory: not measured (no test saved an allocator peak)"
    peak, case = max(peaks)
    held = next(
        (t["properties"].get("weights_held_bytes") for t in tests if "weights_held_bytes" in t["properties"]), None
    )
    weights = f"; weights held {held / 2**30:.2f} GiB" if held else ""
    return f"peak device memory: {peak / 2**30:.2f} GiB allocated ({case}){weights}"


def stack_line(env: dict, facts: dict) -> str:
    names = ("torch", "torch_npu", "cann", "driver", "transformers")
    stack = ", ".join(f"{n} {env.get(n) or '-'}" for n in names)
    device = env.get("device_name") or facts.get("device_name") or "-"
    return f"stack: {stack}, CUDA {facts.get('cuda') or '-'}, Python {env.get('python') or '-'}; device {device}"


def summary(out: Path, facts: dict, suite: dict) -> str:
    """One screen, read from the results file and build.json; every missing figure says why."""
    from pytest_ascend_llm.reporting.results_file import last_run

    results = out / "results.jsonl"
    records = last_run(results) if results.is_file() else []
    tests = [r for r in records if r.get("kind") == "test"]
    env = next((r["environment"] for r in records if r.get("kind") == "session"), {})
    counts = Counter(t["outcome"] for t in tests)
    lines = [
        f"device check: {facts.get('label')}, random weights, {facts.get('params', 0):,} parameters, "
        f"{facts.get('weights_bytes', 0) / 1e9:.2f} GB bfloat16 safetensors; --llm-device {suite['device']}",
        stack_line(env, facts) if env else "stack: not measured (no session record in the results file)",
        f"seconds: tokenizer {facts.get('tokenizer_s', 0):.1f}, build {facts.get('build_s', 0):.1f}, save "
        f"{facts.get('save_s', 0):.1f}, tests {suite['seconds']:.1f}, total {suite['total']:.1f} "
        f"(bound {suite['minutes']:g} min)",
        f"bounds: --llm-case-seconds {suite['case_seconds']:g}, --llm-max-minutes {suite['max_minutes']:.2f}; "
        f"pytest exit {suite['exit']}" + (f", {suite['note']}" if suite["note"] else ""),
        f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped "
        "(quality probes deselected: they need trained weights)",
        decode_line(tests, env),
        ttft_line(tests),
        peak_line(tests),
    ]
    bounded = [t for t in tests if isinstance((t.get("metrics") or {}).get("stopped_by"), dict)]
    lines.append(
        f"cases stopped by a bound: {len(bounded)} (each keeps its rounds; a percentile they cannot resolve is max)"
    )
    for test in tests:
        if test["outcome"] == "failed":
            lines.append(f"  failed {test['case'].split('::')[-1]}: {test.get('message', '')[:150]}")
    for reason, n in Counter(t.get("message", "")[:120] for t in tests if t["outcome"] == "skipped").items():
        lines.append(f"  skipped {n}x: {reason}")
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--device", choices=("cuda", "npu", "cpu"), default=None, help="cuda; cpu with --tiny")
    parser.add_argument("--tiny", action="store_true", help="a tiny Qwen2 config: try the flow anywhere")
    parser.add_argument("--minutes", type=float, default=None, help="the whole check's bound (8; 3 with --tiny)")
    parser.add_argument("--model-dir", type=Path, default=None, help="where the weights go (OUT/model)")
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    device = args.device or ("cpu" if args.tiny else "cuda")
    out = args.out.resolve()
    model_dir = (args.model_dir or out / "model").resolve()
    if args.build_only:
        build(out, model_dir, device, args.tiny)
        return 0
    started = time.perf_counter()
    minutes = args.minutes or (3.0 if args.tiny else 8.0)
    deadline = started + minutes * 60
    out.mkdir(parents=True, exist_ok=True)
    clear_model_dir(model_dir)
    shutil.rmtree(out / "report", ignore_errors=True)
    for stale in ("results.jsonl", "build.json", "summary.txt"):
        (out / stale).unlink(missing_ok=True)
    shape = TINY if args.tiny else QWEN25_14B
    check_disk(model_dir.parent, parameter_count(shape))
    child = [sys.executable, __file__, str(out), "--model-dir", str(model_dir), "--device", device, "--build-only"]
    child += ["--tiny"] if args.tiny else []
    try:
        built = subprocess.run(child, timeout=max(deadline - time.perf_counter(), 1.0))
    except subprocess.TimeoutExpired:
        sys.exit(f"device check: building and saving the model took longer than the {minutes:g} min bound")
    if built.returncode != 0:
        sys.exit(f"device check: building the model failed (exit {built.returncode}); see the lines above")
    facts = json.loads((out / "build.json").read_text())
    facts["label"] = "tiny Qwen2 config" if args.tiny else "Qwen2.5-14B-Instruct config"
    case_seconds = CASE_SECONDS["cpu" if device == "cpu" else "accelerator"]
    left = deadline - time.perf_counter()
    max_minutes = max((left - RESERVE_S) / 60, 0.5)
    tests_started = time.perf_counter()
    command = pytest_command(out, model_dir, device, case_seconds, max_minutes)
    code, note = run_logged(command, out / "pytest.log", left - 10)
    suite = {
        "device": device,
        "exit": code,
        "note": note,
        "seconds": time.perf_counter() - tests_started,
        "total": time.perf_counter() - started,
        "minutes": minutes,
        "case_seconds": case_seconds,
        "max_minutes": max_minutes,
    }
    text = summary(out, facts, suite)
    (out / "summary.txt").write_text(text, encoding="utf-8")
    print("\n" + text, end="")
    return 0 if code == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
