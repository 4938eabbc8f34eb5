"""CUDA kernels run under numba's CUDA simulator: only with ``NUMBA_ENABLE_CUDASIM=1``,
in a pytest process of their own (tests/codegen/test_cuda_sim.py starts it; the name
keeps the main suite from collecting this module).

Every case of tests/codegen/cuda_graphs.py is lowered as the CPU path lowers it,
rendered for CUDA with the simulator's launch shape (2 blocks of 64 threads: grid-stride
loops still cover every point) and compared with the reference interpreter within
float32 tolerance; whole and column reductions must repeat bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from tests.gpu_gate import require_gpu_or_simulator

require_gpu_or_simulator()

from graphc.codegen.cuda_schedule import SIMULATOR_LAUNCH  # noqa: E402
from tests.codegen.cuda_graphs import CASES, nodes, reference, run_cuda  # noqa: E402


def assert_close(got: np.ndarray, want: np.ndarray, case: str) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype, case
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-6, equal_nan=True,
                                   err_msg=case)
    else:
        np.testing.assert_array_equal(got, want, err_msg=case)


@pytest.mark.parametrize("case", sorted(CASES))
def test_cuda_kernels_match_the_interpreter(case):
    outs = nodes(case)
    got, sources = run_cuda(outs, SIMULATOR_LAUNCH)
    assert sources, case  # at least one CUDA kernel ran
    for g, w in zip(got, reference(outs)):
        assert_close(np.asarray(g), w, case)


@pytest.mark.parametrize("case", ["whole_sums", "whole_2d", "column_sums", "softmax_rows"])
def test_reductions_give_the_same_bits_on_every_run(case):
    outs = nodes(case)
    first, _ = run_cuda(outs, SIMULATOR_LAUNCH)
    for _ in range(2):
        again, _ = run_cuda(outs, SIMULATOR_LAUNCH)
        for a, b in zip(first, again):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes(), case


@pytest.mark.parametrize("case", ["movement", "softmax_rows", "batchnorm_stats",
                                  "multi_output", "argmax_rows"])
def test_the_64_bit_index_variant_computes_the_same(case):
    outs = nodes(case)
    got, sources = run_cuda(outs, SIMULATOR_LAUNCH, index_bits=64)
    assert all("uint32(" not in ks.source for ks in sources)
    for g, w in zip(got, reference(outs)):
        assert_close(np.asarray(g), w, case)
