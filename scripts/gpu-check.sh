#!/usr/bin/env bash
# The CUDA check (bench/gpu_check.py): labeling in fp32 and bf16 against the CPU reference, a few
# steps of every trainer and sampling, all on the GPU, then the demo pipeline through one real
# worker (TRAINING_PROCESSES=auto) in a temporary lab; one JSON summary on the last line.
# Without a CUDA device it stops at once with "no CUDA device" and exit code 2.
# The virtual environment must hold a CUDA build of torch (`make venv` installs the CPU wheel).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
exec "$PYTHON" bench/gpu_check.py "$@"
