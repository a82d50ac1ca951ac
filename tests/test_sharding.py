"""The batch axis sharded over 4 (forced host) devices gives the same debates as one device."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

SCRIPT = Path(__file__).parent / "sharded_debates.py"


def run_with_devices(count: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_sharded_run_equals_single_device_run():
    one, four = run_with_devices(1), run_with_devices(4)
    assert one["devices"] == 1 and one["shards"] == 1
    assert four["devices"] == 4 and four["shards"] == 4
    assert four["actions"] == one["actions"]
    np.testing.assert_allclose(four["margins"], one["margins"], rtol=1e-4, atol=1e-4)
    assert four["honest_wins"] == one["honest_wins"]
    assert four["judge_alone"] == one["judge_alone"]
