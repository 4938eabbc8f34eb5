"""graphc's errors (graphc/ir/errors.py) are caught by the ``except`` clauses MegEngine
code writes for the same situations: RuntimeError for MegEngine's C++ checks,
AssertionError for its Python asserts, ValueError / TypeError where it raises those."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc.backends.base import NoImplementation
from graphc.ir import DTypeError, GraphcError, OpError, ShapeError


def shape_mismatch():
    graphc.tensor([1.0, 2.0, 3.0]) + graphc.tensor([1.0, 2.0])


def matmul_mismatch():
    F.matmul(graphc.tensor(np.ones((2, 3), np.float32)), graphc.tensor(np.ones((2, 3),
                                                                             np.float32)))


def bad_reshape():
    graphc.tensor([1.0, 2.0, 3.0]).reshape(2, 2)


def float_index():
    F.gather(graphc.tensor([1.0, 2.0]), 0, graphc.tensor([0.5]))


def index_out_of_bounds():
    graphc.tensor([1.0, 2.0])[graphc.tensor([5])].numpy()


@pytest.mark.parametrize("make_error", [shape_mismatch, matmul_mismatch, bad_reshape])
@pytest.mark.parametrize("caught_as", [RuntimeError, AssertionError, ValueError, ShapeError,
                                       GraphcError])
def test_shape_errors_are_caught_as_megengine_code_catches_them(make_error, caught_as):
    with pytest.raises(caught_as) as info:
        make_error()
    assert type(info.value) is ShapeError


@pytest.mark.parametrize("caught_as", [RuntimeError, AssertionError, TypeError, DTypeError])
def test_dtype_errors_are_caught_as_megengine_code_catches_them(caught_as):
    with pytest.raises(caught_as, match="gather: index arrays must be integers") as info:
        float_index()
    assert type(info.value) is DTypeError


def test_data_errors_found_while_running_are_runtime_errors():
    with pytest.raises(RuntimeError, match="out of bounds") as info:
        index_out_of_bounds()
    assert isinstance(info.value, OpError)


def test_a_device_without_an_implementation_is_a_runtime_error(monkeypatch):
    import graphc.backends as backends
    from graphc.backends.cuda_device import GpuStatus

    monkeypatch.setattr(backends, "gpu_status", lambda: GpuStatus(False, "no driver here"))
    with pytest.raises(RuntimeError, match="no usable GPU: no driver here") as info:
        backends.backend_for("gpu0")
    assert isinstance(info.value, NoImplementation)


def test_an_except_clause_in_megengine_style_code():
    # The pattern MegEngine's own tests and user code use to probe a shape.
    def fits(a, b):
        try:
            F.concat([a, b], axis=1)
            return True
        except RuntimeError:
            return False

    x = graphc.tensor(np.ones((2, 3), np.float32))
    assert fits(x, x) and not fits(x, graphc.tensor(np.ones((3, 3), np.float32)))
