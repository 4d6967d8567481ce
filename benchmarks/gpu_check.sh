#!/usr/bin/env bash
# The GPU check: one prepared script for a machine with an NVIDIA GPU and torch, but no network.
#
#   make gpu-wheels                 # here, with the network: wheels/ gets attnlab and what the GPU
#                                   # machine lacks (see the Makefile for the list)
#   bash benchmarks/gpu_check.sh    # there: under 5 minutes; writes benchmarks/results/gpu-<date>.txt
#
# It installs attnlab from wheels/ only (pip --no-index), then writes one report: the GPU, the driver,
# torch and CUDA versions, `attnlab doctor` (the sandbox layers, the GPU the zygote sees without
# starting CUDA, the self-check), the GPU tests (tests/test_gpu.py, which must run, not be pending),
# and benchmarks/gpu_check.py, which grades the examples, the valid variants and the device mistakes
# with cpu and cuda cases and checks what must hold there. Exit status: 0 when everything held.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
RESULTS=${RESULTS:-benchmarks/results}
mkdir -p "$RESULTS"
report="$RESULTS/gpu-$(date -u +%F).txt"
status=0

section() { printf '\n## %s\n' "$1"; }
{
  echo "# attnlab GPU check, $(date -u '+%F %T UTC')"
  section "machine"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || echo "nvidia-smi: not found"
  "$PYTHON" -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda, "| available", torch.cuda.is_available())'
  section "install (pip --no-index, from wheels/)"
  # --no-deps: the wheels are exactly what the image lacks; torch, numpy, matplotlib and the rest are there.
  if ! "$PYTHON" -m pip install --quiet --no-index --no-deps ${WHEELS:-wheels}/*.whl 2>&1 \
      || ! "$PYTHON" -c 'import attnlab.cli, attnlab.running.grade, nbformat, pydantic, safetensors, rich, yaml' 2>&1; then
    echo "FAIL the install from wheels/ failed: run 'make gpu-wheels' where there is a network, and carry wheels/"
    exit 1
  fi
  "$PYTHON" -c 'import attnlab; print("attnlab", attnlab.__version__, "from", attnlab.__file__)'
  export XDG_CACHE_HOME="$(mktemp -d)"  # a fresh self-check cache: the check runs here, for real
  section "attnlab doctor (the default sandbox)"
  COLUMNS=160 env -u ATTNLAB_SANDBOX "$PYTHON" -m attnlab.cli doctor || status=1
  if [ -n "${ATTNLAB_SANDBOX:-}" ]; then
    # Where the default sandbox cannot reach the GPU (gVisor, say), the rest runs with the mode given here.
    section "attnlab doctor (ATTNLAB_SANDBOX=$ATTNLAB_SANDBOX, as the checks below)"
    COLUMNS=160 "$PYTHON" -m attnlab.cli doctor || status=1
  fi
  section "GPU tests (tests/test_gpu.py)"
  gpu_tests=$("$PYTHON" -m pytest -q -p no:cacheprovider -rs tests/test_gpu.py 2>&1) || status=1
  echo "$gpu_tests"
  if grep -q "pending: needs a CUDA GPU" <<<"$gpu_tests"; then
    echo "FAIL the GPU tests were pending: torch sees no GPU here"
    status=1
  fi
  section "grading on cpu and cuda (benchmarks/gpu_check.py)"
  "$PYTHON" benchmarks/gpu_check.py || status=1
  section "verdict"
  if [ "$status" = 0 ]; then echo "OK: every check held on this GPU"; else echo "FAIL: see the sections above"; fi
  exit "$status"
} 2>&1 | tee "$report"
status=${PIPESTATUS[0]}
echo "report: $report"
exit "$status"
