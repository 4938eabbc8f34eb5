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
