from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _v

try:
    __version__ = _v("idrs")
except PackageNotFoundError:  # run from a checkout with PYTHONPATH (benchmarks/gpu_check.sh)
    __version__ = "0+checkout"
