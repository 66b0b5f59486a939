"""Shared fixtures: one test body runs on every importable backend; a workflow copy for Snakemake."""
import pytest

from balnet.engine.backend import cupy_available, get_xp


@pytest.fixture(params=["numpy", "cupy"])
def xp(request):
    """Array namespace; the cupy case is skipped without CuPy and a GPU."""
    if request.param == "cupy" and not cupy_available():
        pytest.skip("CuPy with a CUDA device is not available")
    return get_xp(request.param)


@pytest.fixture
def wf(tmp_path):
    """A copy of the workflow in tmp_path (the working directory of every snakemake call)."""
    from snakeutil import copy_workflow

    return copy_workflow(tmp_path / "wf")
