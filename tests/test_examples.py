"""The example scripts run end to end (two epochs each) and print a test accuracy."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("script", ["train_mlp.py", "train_cnn.py"])
def test_example_trains(tmp_path, script):
    env = dict(os.environ, EPOCHS="2", GRAPHC_BACKEND="compiled")
    done = subprocess.run([sys.executable, str(EXAMPLES / script)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", done.stdout).group(1))
    assert accuracy > 80.0, done.stdout  # two epochs already learn most digits


def test_mnist_quickstart_trains_on_the_idx_files_it_writes(tmp_path):
    # MegEngine's quick start (MNIST, Compose([Normalize, ToMode]), RandomSampler, LeNet)
    # offline: the script writes stand-in digits as MNIST idx files and reads them back.
    env = dict(os.environ, EPOCHS="1", GRAPHC_BACKEND="compiled")
    env.pop("MNIST_ROOT", None)
    env.pop("DOWNLOAD", None)
    done = subprocess.run([sys.executable, str(EXAMPLES / "mnist_quickstart.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mnist-standin" / "train-images-idx3-ubyte.gz").is_file()
    accuracy = float(re.search(r"test accuracy: ([\d.]+)%", done.stdout).group(1))
    assert accuracy > 60.0, done.stdout  # 23 steps of one epoch; chance is 10%
