"""What a result needs to be reproduced: code version, package versions, machine."""

from __future__ import annotations

import platform
import subprocess
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

PACKAGES = ("debate-sim", "jax", "jaxlib", "flax", "optax", "mctx", "orbax-checkpoint", "numpy", "sqlalchemy")


def code_version() -> str:
    """``git describe`` of the source tree (``-dirty`` when modified), else the package version."""
    root = Path(__file__).resolve().parent.parent
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], cwd=root,
                             capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            return "git:" + out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return "package:" + _version("debate-sim")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def provenance() -> dict:
    import jax

    return {
        "code_version": code_version(),
        "packages": {name: _version(name) for name in PACKAGES},
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "devices": [str(d) for d in jax.devices()],
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
