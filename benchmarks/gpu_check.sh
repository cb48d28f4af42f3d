#!/usr/bin/env bash
# One GPU check, under 8 minutes on an H100: certification, kNN and training throughput
# as one Markdown table (benchmarks/gpu_check.py), then the GPU tests (pytest -m gpu).
#
#   benchmarks/gpu_check.sh [gpu_check.py options]      e.g. --smoke on a CPU machine
#
# Runs from the checkout with PYTHONPATH on a bare machine without network access: it
# installs nothing from a network. Wheels placed in benchmarks/wheels/ (for example
# faiss-cpu) are installed from disk into a temporary folder; what is missing is
# skipped with a line that says so. PYTHON picks the interpreter (default: python3).
set -u
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
if compgen -G "benchmarks/wheels/*.whl" >/dev/null; then
    site=$(mktemp -d)
    if "$PY" -m pip install -q --root-user-action=ignore --no-index --no-deps --no-compile --target "$site" benchmarks/wheels/*.whl; then
        export PYTHONPATH="$PYTHONPATH:$site"
    else
        echo "wheels in benchmarks/wheels/ did not install; going on without them"
    fi
fi
"$PY" benchmarks/gpu_check.py "$@"
status=$?
echo
echo "## pytest -m gpu"
# only the GPU tests' file: the rest of the suite needs snakemake and mpmath
"$PY" -m pytest -m gpu -q -o addopts="" -p no:cacheprovider tests/engine/test_gpu.py
exit $(( status || $? ))
