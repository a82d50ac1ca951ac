"""Run a script in a fresh Python process with N forced host (CPU) devices and read the JSON it
prints last (XLA_FLAGS must be set before jax starts, hence the subprocess)."""

import json
import os
import subprocess
import sys
from pathlib import Path


def run_with_devices(script: Path, count: int) -> dict:
    env = dict(os.environ, XLA_FLAGS=f"--xla_force_host_platform_device_count={count}", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=600,
                         cwd=Path(script).parent.parent)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])
