"""graphc.random: counter-based Philox streams, reproducibility, independence, and no
recompilation when a step draws new random numbers."""

from __future__ import annotations

import numpy as np
import pytest

import graphc
import graphc.functional as F
import graphc.optimizer as optim
from graphc import random
from graphc.autodiff import GradManager
from graphc.runtime import compiler


def _draws():
    return [random.uniform(-1.0, 2.0, size=(3, 4)).numpy(),
            random.normal(1.0, 0.5, size=5).numpy(),
            random.bernoulli(0.3, size=(2, 6)).numpy(),
            random.permutation(7).numpy()]


def test_same_seed_repeats_bit_for_bit() -> None:
    random.seed(123)
    first = _draws()
    random.seed(123)
    second = _draws()
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    random.seed(124)
    assert not np.array_equal(_draws()[0], first[0])


def test_each_call_reads_its_own_philox_stream() -> None:
    # Call k after seed(s) uses Philox with key s and counter k * 2**128.
    random.seed(9)
    a = random.uniform(size=1000).numpy()
    b = random.uniform(size=1000).numpy()
    for k, got in enumerate((a, b)):
        gen = np.random.Generator(np.random.Philox(key=9, counter=k << 128))
        np.testing.assert_array_equal(got, gen.random(1000).astype(np.float32))
    assert not np.array_equal(a, b)


def test_distributions_have_the_right_moments() -> None:
    random.seed(0)
    u = random.uniform(2.0, 5.0, size=20000).numpy()
    assert u.dtype == np.float32 and u.min() >= 2.0 and u.max() < 5.0
    assert u.mean() == pytest.approx(3.5, abs=0.05)
    n = random.normal(-1.0, 2.0, size=20000).numpy()
    assert n.mean() == pytest.approx(-1.0, abs=0.06) and n.std() == pytest.approx(2.0, rel=0.03)
    m = random.bernoulli(0.25, size=20000).numpy()
    assert set(np.unique(m)) <= {0.0, 1.0} and m.mean() == pytest.approx(0.25, abs=0.015)
    assert random.bernoulli(0.5, size=3, dtype="bool").dtype == np.bool_
    assert random.uniform().shape == ()


def test_permutation_and_shuffle() -> None:
    random.seed(2)
    perm = random.permutation(10).numpy()
    assert perm.dtype == np.int32 and sorted(perm.tolist()) == list(range(10))
    rows = np.arange(12, dtype=np.float32).reshape(6, 2)
    shuffled = random.permutation(graphc.tensor(rows)).numpy()
    assert sorted(map(tuple, shuffled.tolist())) == sorted(map(tuple, rows.tolist()))
    x = graphc.tensor(rows)
    random.shuffle(x)
    got = x.numpy()
    assert sorted(map(tuple, got.tolist())) == sorted(map(tuple, rows.tolist()))
    assert not np.array_equal(got, rows)  # 6! orders: a fixed seed that moves something


def test_rng_objects_are_independent_of_the_global_stream() -> None:
    rng = random.RNG(seed=5)
    a = rng.normal(size=4).numpy()
    random.seed(5)
    b = random.normal(size=4).numpy()
    np.testing.assert_array_equal(a, b)  # same seed, same first draw
    rng.seed(5)
    random.uniform(size=3)  # the global stream moves on; rng's does not
    np.testing.assert_array_equal(rng.normal(size=4).numpy(), a)


def test_two_masks_in_one_step_differ_and_new_steps_do_not_recompile(monkeypatch) -> None:
    monkeypatch.setenv("GRAPHC_BACKEND", "compiled")
    random.seed(0)
    x = graphc.tensor(np.ones((4, 8), np.float32))
    outputs, compiled_at = [], []
    for _ in range(5):
        a = x * random.bernoulli(0.5, size=(4, 8))
        b = x * random.bernoulli(0.5, size=(4, 8))
        total = a + 2 * b
        graphc.realize(a, b, total)
        outputs.append((a.numpy(), b.numpy()))
        compiled_at.append(compiler.stats["programs_compiled"])
    for a, b in outputs:
        assert not np.array_equal(a, b)
    assert not np.array_equal(outputs[0][0], outputs[1][0])
    assert compiled_at[2] == compiled_at[-1]


def _noisy_run(seed: int) -> np.ndarray:
    random.seed(seed)
    w = graphc.Parameter(np.ones((3, 2), np.float32))
    opt = optim.SGD([w], lr=0.1, momentum=0.5)
    gm = GradManager().attach(w)
    for _ in range(4):
        x = random.normal(size=(5, 3))
        with gm:
            h = F.matmul(x, w) * random.bernoulli(0.8, size=(5, 2)) / 0.8
            gm.backward(F.mean(F.square(h - 1.0)))
        opt.step().clear_grad()
    return w.numpy()


def test_a_seeded_training_run_repeats_bit_for_bit() -> None:
    np.testing.assert_array_equal(_noisy_run(11), _noisy_run(11))
    assert not np.array_equal(_noisy_run(11), _noisy_run(12))


@pytest.mark.parametrize("call, error, match", [
    (lambda: random.seed(1.5), TypeError, "int"),
    (lambda: random.seed(-1), ValueError, "seed"),
    (lambda: random.uniform(2.0, 1.0), ValueError, "low"),
    (lambda: random.normal(0.0, -1.0), ValueError, "std"),
    (lambda: random.bernoulli(1.5, size=2), ValueError, r"\[0, 1\]"),
    (lambda: random.permutation(-3), ValueError, "non-negative"),
    (lambda: random.uniform(size=(2, -1)), ValueError, "size"),
])
def test_bad_arguments(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


# ---- MegEngine's gamma, beta, poisson (moments with fixed seeds) -------------------------

@pytest.mark.parametrize("draw, mean, var", [
    (lambda n: random.gamma(2.0, 3.0, size=n), 6.0, 18.0),           # k theta, k theta^2
    (lambda n: random.beta(2.0, 5.0, size=n), 2 / 7, 10 / (49 * 8)),  # ab/((a+b)^2(a+b+1))
    (lambda n: random.poisson(4.0, size=n), 4.0, 4.0),
])
def test_distribution_moments(draw, mean, var) -> None:
    random.seed(0)
    x = draw(200_000).numpy().astype(np.float64)
    assert x.dtype == np.float64 and draw(3).dtype == np.float32
    # 200,000 draws: the sample mean's sd is sqrt(var / n); allow 5 of them
    assert abs(x.mean() - mean) < 5 * np.sqrt(var / x.size)
    assert abs(x.var() - var) / var < 0.03


def test_parameter_tensors_broadcast_into_the_shape() -> None:
    random.seed(1)
    shape = graphc.tensor([1.0, 50.0])
    x = random.gamma(shape, 2.0, size=(20_000,)).numpy()
    assert x.shape == (20_000, 2)
    np.testing.assert_allclose(x.mean(axis=0), [2.0, 100.0], rtol=0.05)
    assert random.beta(np.ones((3, 1)), np.ones(4)).shape == (3, 4)
    lam = random.poisson(np.array([0.5, 30.0]), size=(5, 10_000)).numpy()
    assert lam.shape == (5, 10_000, 2)
    np.testing.assert_allclose(lam.mean(axis=(0, 1)), [0.5, 30.0], rtol=0.05)
    assert (lam == np.round(lam)).all()  # counts


def test_new_samplers_repeat_under_a_seed_and_reject_bad_parameters() -> None:
    random.seed(2)
    a = [random.gamma(1.5, size=4).numpy(), random.poisson(2.0, size=4).numpy()]
    random.seed(2)
    b = [random.gamma(1.5, size=4).numpy(), random.poisson(2.0, size=4).numpy()]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(ValueError, match=r"random.gamma: shape must be finite and > 0"):
        random.gamma(0.0)
    with pytest.raises(ValueError, match=r"random.beta: beta must be"):
        random.beta(1.0, -1.0)
    with pytest.raises(ValueError, match="do not broadcast"):
        random.beta(np.ones(2), np.ones(3))


def test_numpy_generator_and_seeded_stream_keep_the_outer_stream() -> None:
    random.seed(4)
    outer = [random.uniform(size=2).numpy() for _ in range(2)]
    random.seed(4)
    first = random.uniform(size=2).numpy()
    with random.seeded_stream(99):
        inner = random.numpy_generator().random(3)
    with random.seeded_stream(99):
        np.testing.assert_array_equal(random.numpy_generator().random(3), inner)
    np.testing.assert_array_equal(first, outer[0])
    np.testing.assert_array_equal(random.uniform(size=2).numpy(), outer[1])  # resumed
