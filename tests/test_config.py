"""graphc.config (graphc/config.py): MegEngine's option names, defaults, validation and
``_override``; and the options whose meaning graphc implements hold."""

import numpy as np
import pytest

import graphc
import graphc.functional as F
from graphc import config


@pytest.fixture(autouse=True)
def restore_options():
    saved = dict(config._options)
    yield
    config._options.clear()
    config._options.update(saved)


def test_megengine_defaults():
    # MegEngine 1.13: no benchmarking, no determinism request, async level 2.
    assert config.benchmark_kernel is False
    assert config.deterministic_kernel is False
    assert config.async_level == 2
    assert config.disable_memory_forwarding is False
    assert config._compute_mode == "default" and config._conv_format == "default"
    assert {"async_level", "benchmark_kernel", "deterministic_kernel"} <= set(dir(config))


def test_options_are_set_as_module_attributes_and_read_back():
    graphc.config.benchmark_kernel = True
    graphc.config.deterministic_kernel = True
    graphc.config.async_level = 0
    graphc.config._compute_mode = "float32"
    assert (config.benchmark_kernel, config.deterministic_kernel, config.async_level,
            config._compute_mode) == (True, True, 0, "float32")


@pytest.mark.parametrize("level", [-1, 3, 1.5, True, "2"])
def test_async_level_must_be_0_1_or_2(level):
    # MegEngine asserts the same (AssertionError).
    with pytest.raises(AssertionError, match="async_level should be 0, 1 or 2"):
        graphc.config.async_level = level
    assert config.async_level == 2


@pytest.mark.parametrize(("name", "value"), [("_conv_format", "NHWC"),
                                             ("_bn_format", "dim_111c"),
                                             ("_auto_format_convert", True)])
def test_layout_conversions_graphc_lacks_are_refused(name, value):
    with pytest.raises(NotImplementedError, match=f"config.{name} = {value!r}"):
        setattr(graphc.config, name, value)


def test_compute_mode_names_are_checked():
    with pytest.raises(ValueError, match="_compute_mode must be 'default' or 'float32'"):
        graphc.config._compute_mode = "float16"


def test_override_sets_for_a_block_and_restores_even_on_error():
    graphc.config.async_level = 1
    with pytest.raises(KeyError):
        with config._override(async_level=0, benchmark_kernel=True, compute_mode="float32"):
            assert (config.async_level, config.benchmark_kernel) == (0, True)
            assert config._compute_mode == "float32"
            raise KeyError("inside")
    assert (config.async_level, config.benchmark_kernel) == (1, False)
    assert config._compute_mode == "default"


def test_override_as_a_decorator():
    @config._override(deterministic_kernel=True)
    def step():
        return config.deterministic_kernel

    assert step() is True and config.deterministic_kernel is False


def test_override_refuses_unknown_options():
    with pytest.raises(TypeError, match="unknown options \\['fast'\\]"):
        config._reset_execution_config(fast=True)


@pytest.mark.parametrize("backend", ["interp", "compiled"])
def test_deterministic_kernel_holds_whatever_is_set(backend, monkeypatch):
    # graphc's kernels are deterministic: the same graph on the same data gives the same
    # bits with the option off and on (a reduction, whose order could vary).
    monkeypatch.setenv("GRAPHC_BACKEND", backend)
    data = np.random.default_rng(0).standard_normal((64, 300)).astype(np.float32)
    results = []
    for flag in (False, True, False):
        graphc.config.deterministic_kernel = flag
        results.append(F.softmax(graphc.tensor(data), axis=1).sum(axis=0).numpy())
    for r in results[1:]:
        np.testing.assert_array_equal(r, results[0])
    np.testing.assert_allclose(results[0], (np.exp(data) / np.exp(data).sum(1, keepdims=True))
                               .sum(0), rtol=1e-4)


def test_async_level_does_not_change_where_errors_are_raised():
    # Shape errors at the building line at every level; data errors at realization.
    for level in (0, 1, 2):
        graphc.config.async_level = level
        with pytest.raises(RuntimeError, match="add"):
            graphc.tensor([1.0, 2.0]) + graphc.tensor([1.0, 2.0, 3.0])
