"""Graphs for the CUDA renderer's tests, lowered as the CPU path lowers them.

``loop_irs`` runs the compiler's own pipeline (passes, fusion, scheduling, lowering:
what ``graphc.runtime.compiler.compile_outputs`` does before the CPU renders) and
returns the kernel IRs, without compiling anything for the CPU. ``run_cuda`` runs a
graph's loop kernels one after another through the CUDA renderer and ``launch`` (under
``NUMBA_ENABLE_CUDASIM=1``: the simulator on NumPy arrays), each kernel reading the
values earlier kernels wrote; ``CASES`` are the graphs both test modules use.
"""

from __future__ import annotations

import dataclasses

import numpy as np

import graphc as gc
import graphc.functional as F
from graphc import interp
from graphc.backends import backend_for
from graphc.codegen.lower import lower_kernel
from graphc.ir import Graph, structural_key
from graphc.ops import get_op
from graphc.passes import run_pipeline
from graphc.passes.fusion import fuse
from graphc.passes.schedule import schedule


def fused_graph(outputs):
    """(the fused, scheduled graph of ``outputs`` (nodes), its outputs, runtime scalars)."""
    graph = run_pipeline(Graph(tuple(outputs)),
                         capabilities=backend_for("cpux").capabilities)
    fused = schedule(fuse(graph))
    _, args = structural_key(outputs)
    return fused, list(graph.outputs), {a.uid for a in args if a.op == "scalar"}


def loop_irs(outputs):
    """The kernel IR of every loop kernel of the graph of ``outputs``, in order."""
    fused, _, scalars = fused_graph(outputs)
    return [lower_kernel(fused, k, scalars) for k in fused.kernels if k.kind == "loop"]


def run_cuda(outputs, launch=None, index_bits=None):
    """The values of ``outputs`` (nodes) computed by CUDA kernels (each loop kernel
    rendered for CUDA and launched; library kernels, if any, by the interpreter), and
    the kernels' sources. ``index_bits``: force the schedule's index math (64: the
    variant for domains past 2**31 points, on small arrays)."""
    from graphc.codegen.cuda import CudaKernelSource, print_cuda_kernel, render_cuda_kernel
    from graphc.codegen.cuda_ptx import launch as launch_kernel

    fused, graph_outputs, scalars = fused_graph(outputs)
    values: dict[int, np.ndarray] = {}
    sources = []

    def value_of(node):
        if node.uid in values:
            return values[node.uid]
        if node.op == "scalar":
            return node.type.dtype.type(node.value)
        if node.buffer is not None:  # a writable copy: the simulator copies arrays back
            return np.array(node.buffer, order="C")
        if node.uid in fused.free:  # a view of a stored value, as the linker makes it
            view = node.inputs[0]
            return np.array(get_op(node.op).reference([value_of(view)], node.attrs),
                            order="C")
        raise AssertionError(f"{node.op} %{node.uid} has no value yet")

    for kernel in fused.kernels:
        if kernel.kind != "loop":  # an opaque op: its reference, on the CUDA results
            for node in kernel.members:
                values[node.uid] = np.array(
                    interp.evaluate(node, [value_of(i) for i in node.inputs]), order="C")
            continue
        ks = render_cuda_kernel(fused, kernel, scalars, launch)
        if index_bits is not None:
            sched = dataclasses.replace(ks.schedule, index_bits=index_bits)
            source, layouts = print_cuda_kernel(ks.ir, sched)
            ks = CudaKernelSource(kernel, source, ks.params, ks.sizes, layouts, ks.ir, sched)
        sources.append(ks)
        args = []
        for p in ks.params:
            if p.kind == "out":
                out = np.empty(p.node.type.shape, p.node.type.dtype)
                values[p.node.uid] = out
                args.append(out)
            else:
                args.append(value_of(p.node))
        launch_kernel(ks, args)
    return [value_of(o) for o in graph_outputs], sources


def reference(outputs):
    """The interpreter's values of ``outputs`` (nodes)."""
    found = interp.run(list(outputs))
    return [np.asarray(found[o.uid]) for o in outputs]


rng = np.random.default_rng(17)


def _t(*shape, dtype=np.float32, scale=2.0):
    return gc.tensor((rng.standard_normal(shape) * scale).astype(dtype))


def elementwise_chain():
    x, b = _t(7, 33), _t(33)
    y = F.gelu(x + b) * F.sigmoid(x) - F.exp(-abs(x)) / (1 + x * x)
    z = F.where(x > 0, F.log(abs(x) + 1), F.tanh(x)) + F.maximum(x, b) - F.minimum(x, 0.5)
    return [y, z]


def integer_ops():
    a = gc.tensor(rng.integers(-50, 50, (5, 12)).astype(np.int32))
    b = gc.tensor(rng.integers(-7, 7, (5, 12)).astype(np.int32))
    return [a // b + a % b, abs(a) * 3 - b]


def rounding():
    x = gc.tensor(np.array([-2.5, -1.5, -0.5, -0.4, 0.0, 0.4, 0.5, 1.5, 2.5, 3.7, -3.7,
                            1e9], np.float32))
    return [F.floor(x) + F.ceil(x) * 2 + F.round(x) * 4, x // 1.5, x % 1.5]


def softmax_rows():
    return [F.softmax(_t(6, 100), axis=1)]


def cross_entropy_rows():
    logits = _t(16, 10)
    labels = gc.tensor(rng.integers(0, 10, 16).astype(np.int32))
    return [F.logsumexp(logits, axis=1), F.cross_entropy(logits, labels)]


def column_sums():
    x = _t(50, 9)
    mean = x.mean(axis=0)
    return [mean, x - mean, (x * x).sum(axis=0)]


def whole_sums():
    x = _t(1000, scale=10.0)
    return [x.sum(), x.max(), F.argmax(x)]


def whole_2d():
    x = _t(37, 29)
    return [(x * x).sum(), x.min()]


def batchnorm_stats():
    x = _t(4, 3, 5, 5)
    return [x.mean(axis=(0, 2, 3)), (x * x).sum(axis=(0, 2, 3))]


def argmax_rows():
    data = rng.standard_normal((9, 40)).astype(np.float32)
    data[3, 7] = np.nan
    data[5, 2] = data[5, 30] = 9.0  # a tie: the first position wins
    x = gc.tensor(data)
    return [F.argmax(x, axis=1), x.max(axis=1), F.argmin(x, axis=0)]


def multi_output():
    x, y = _t(12, 20), _t(12, 20)
    e = F.exp(x - y)
    return [e, e * 2 + y, F.relu(x) * y]


def movement():
    x, y = _t(6, 8), _t(8, 3)
    moved = F.transpose(x, (1, 0))[1:7:2] * 2 + F.reshape(x[:, :3], (3, 6))
    padded = F.pad(y, ((1, 2), (0, 1)), constant_value=-1.5)
    mirrored = F.pad(y, ((2, 2), (1, 1)), mode="reflect")
    return [moved, F.exp(padded) + 1, mirrored * y.sum()]


def integer_reductions():
    a = gc.tensor(rng.integers(-50, 50, (5, 13)).astype(np.int32))
    positive = a > 0
    return [a.sum(axis=1), a.max(axis=0), positive.sum(axis=1), a.min(),
            F.argmin(a, axis=1)]


def float64_rows():
    x = gc.tensor(rng.standard_normal((4, 70)), dtype=np.float64)
    return [F.softmax(x, axis=1), x.sum(axis=0)]


CASES = {
    "integer_reductions": integer_reductions,
    "float64_rows": float64_rows,
    "movement": movement,
    "elementwise_chain": elementwise_chain,
    "integer_ops": integer_ops,
    "rounding": rounding,
    "softmax_rows": softmax_rows,
    "cross_entropy_rows": cross_entropy_rows,
    "column_sums": column_sums,
    "whole_sums": whole_sums,
    "whole_2d": whole_2d,
    "batchnorm_stats": batchnorm_stats,
    "argmax_rows": argmax_rows,
    "multi_output": multi_output,
}


def nodes(case):
    """The output nodes of case ``case`` (a name of CASES)."""
    return [t._node for t in CASES[case]()]
