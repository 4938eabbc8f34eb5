"""The CUDA indexing kernels without a GPU: the host-side plan of an index spec
(graphc.kernels.cuda.indexing.index_plan) read element by element against NumPy's own
indexing, and every kernel kind (index, setitem, scatter_add, gather, scatter_add_axis,
the concat/copy slab) compiled to PTX for compute capability 9.0 in float32, float16,
float64 and int32 (where numba-cuda and NVVM are installed: the ``cuda`` extra), with
atomics only on the error word. Running them is tests/kernels/cudasim_indexing.py (the
simulator, its own process)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from graphc.kernels.cuda import gather, indexing

from graphc.codegen.cuda_ptx import MAX_PTX_VERSION, ptx_version
from graphc.ops.indexing import index_result_shape
from tests.codegen.ptx_probe import ptx_unavailable

DTYPES = ("float32", "float16", "float64", "int32")
KINDS = ("index", "setitem", "scatter_add", "gather", "scatter_add_axis", "slab")


def numpy_key(spec: tuple, arrays: list[np.ndarray]) -> tuple:
    """The NumPy index a spec stands for (written here, apart from graphc.ops)."""
    key = []
    for e in spec:
        if e[0] == "s":
            key.append(slice(e[1], e[2] if e[2] >= 0 else None, e[3]))
        elif e[0] == "i":
            key.append(e[1])
        elif e[0] == "n":
            key.append(None)
        else:
            key.append(arrays[e[1]])
    return tuple(key)


def read_with_plan(plan: indexing.IndexPlan, x: np.ndarray,
                   arrays: list[np.ndarray]) -> np.ndarray:
    """``x[spec]`` element by element as the kernels read it: each axis's coordinate
    from the plan's slice, integer or index-array entry."""
    out = np.empty(plan.region, x.dtype)
    for o in np.ndindex(*plan.region):
        coords = []
        for k, axis in enumerate(plan.axes):
            if axis[0] == "s":
                coords.append(axis[2] + axis[3] * o[axis[1]])
            elif axis[0] == "i":
                coords.append(axis[1])
            else:
                j = axis[1]
                at = tuple(0 if r == "0" else o[int(r[1:])] for r in plan.reads[j])
                v = int(arrays[j][at])
                coords.append(v + x.shape[k] if v < 0 else v)
        out[o] = x[tuple(coords)]
    return out


IDX = np.array([[0, 3], [-1, 2]])
ROW = np.array([1, -2])
# (spec, index arrays) for x of shape (4, 5, 3): NumPy's cases for where the broadcast
# dimensions of the arrays go (together: in place; apart: first), integers among
# arrays (advanced), new axes, negative steps and broadcasting arrays of other ranks.
SPECS = [
    ((("a", 0), ("s", 0, 5, 1), ("s", 0, 3, 1)), [IDX]),
    ((("s", 1, 4, 2), ("a", 0), ("s", 0, 3, 1)), [IDX]),
    ((("a", 0), ("s", 4, -1, -2), ("a", 1)), [IDX, ROW]),
    ((("s", 0, 4, 1), ("a", 0), ("i", 1)), [ROW]),
    ((("i", 2), ("s", 0, 5, 1), ("a", 0)), [ROW]),
    ((("n",), ("a", 0), ("n",), ("s", 1, 5, 3), ("i", 0)), [IDX]),
    ((("a", 0), ("a", 1), ("s", 2, -1, -1)), [IDX, np.array([[4], [0]])]),
    ((("s", 0, 4, 1), ("s", 0, 0, 1), ("a", 0)), [ROW]),
    ((("s", 3, 0, -1), ("i", 4), ("s", 0, 3, 2)), []),
    ((("a", 0), ("i", 1), ("i", 2)), [np.array(-1)]),
    ((("s", 0, 4, 1), ("a", 0), ("n",), ("a", 1)), [ROW, np.array([0, 2])]),
]


@pytest.mark.parametrize(("spec", "arrays"), SPECS)
def test_the_plan_reads_what_numpy_indexing_reads(spec, arrays):
    x = np.arange(60).reshape(4, 5, 3)
    plan = indexing.index_plan(spec, x.shape, tuple(a.shape for a in arrays))
    want = x[numpy_key(spec, arrays)]
    assert plan.region == want.shape == index_result_shape(x.shape, spec,
                                                           [a.shape for a in arrays])
    np.testing.assert_array_equal(read_with_plan(plan, x, arrays), want)
    # Equal structures (the compiled kernel's key) for other sizes and slice values.
    if spec == SPECS[1][0]:
        other = indexing.index_plan((("s", 0, 7, 3), ("a", 0), ("s", 1, 2, 1)), (8, 5, 3),
                                    ((2, 2),))
        assert other.structure() == plan.structure() and other.values() != plan.values()


def test_a_spec_of_the_wrong_length_is_refused():
    with pytest.raises(ValueError, match="has 1 axes for shape"):
        indexing.index_plan((("i", 0),), (2, 3), ())


# ---- PTX for compute capability 9.0 -------------------------------------------------

@pytest.fixture(scope="module")
def nvvm():
    reason = ptx_unavailable()
    if reason:
        pytest.skip(reason)


def example(kind: str, dtype: str) -> tuple:
    """A kernel of ``kind`` and host arrays standing for its arguments; inputs are
    strided views (numba's ``A`` layout, as device views are), outputs C-contiguous."""
    x = np.zeros((4, 12, 3), dtype)[:, ::2]  # (4, 6, 3), strided
    idx = np.zeros(6, np.int32)[::2]  # (3,), strided
    err = np.zeros(1, np.int64)
    if kind in ("index", "setitem", "scatter_add"):
        spec = (("a", 0), ("s", 1, 6, 2), ("i", 2))  # apart: the array's axis first
        plan = indexing.index_plan(spec, x.shape, (idx.shape,))
        n = int(np.prod(plan.region))
        if kind == "index":
            kernel = indexing.index_kernel(plan.structure(), 1)
            return kernel, [x, np.zeros(n, dtype), err, n, idx, *plan.values()]
        value = np.zeros((2, *plan.region), dtype)[1]  # a view: layout A
        half = np.dtype(dtype) == np.float16
        kernel = indexing.write_kernel(plan.structure(), 1, kind == "scatter_add", half)
        return kernel, [np.zeros(x.shape, dtype), value, err, 3, 3, idx, *plan.values()]
    index = np.zeros((4, 6, 6), np.int64)[:, :, ::2]
    if kind == "gather":
        return gather.gather_kernel(3, 1), [x, index, np.zeros(72, dtype), err, 72, 4, 6, 3]
    if kind == "scatter_add_axis":
        kernel = gather.scatter_axis_kernel(3, 1, np.dtype(dtype) == np.float16)
        return kernel, [np.zeros(x.shape, dtype), index, x, err, 12, 6, 4, 6, 3]
    return gather.slab_kernel(3, 2), [x, np.zeros((4, 6, 6), dtype), 72, 3, 4, 6, 3]


CASES = [(kind, dtype) for kind in KINDS for dtype in DTYPES] + [
    (kind, "bool") for kind in KINDS if not kind.startswith("scatter")]  # masks move too


@pytest.mark.parametrize(("kind", "dtype"), CASES)
def test_each_kernel_compiles_to_ptx_for_cc_9_0_with_atomics_only_on_the_error_word(
        nvvm, kind, dtype):
    kernel, args = example(kind, dtype)
    ptx = indexing.ptx_for(kernel, args, cc=(9, 0))
    assert ptx_version(ptx) <= MAX_PTX_VERSION
    assert re.search(r"^\s*\.target\s+sm_90\b", ptx, re.M)
    assert ".entry" in ptx
    atomics = re.findall(r"\b(?:atom|red)\.[\w.]+", ptx)
    if kind == "slab":
        assert atomics == []
    else:  # the error word's max, nothing else: results never add atomically
        assert atomics and set(atomics) == {"atom.global.max.s64"}
    if kind in ("scatter_add", "scatter_add_axis") and dtype == "float16":
        assert "cvt.f32.f16" in ptx and "add.f32" in ptx  # the sums are float32
