"""Shard the batch axis of debates and judge evaluation over all local devices.

A 1-D mesh named ``batch``: games are independent, so splitting them across devices changes
nothing but where they run. The same code runs on a laptop (one device), a GPU, or several devices
(tested on CPU with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``).
"""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

BATCH_AXIS = "batch"


def batch_mesh(devices=None) -> Mesh:
    return Mesh(np.asarray(devices if devices is not None else jax.local_devices()), (BATCH_AXIS,))


def shard_batch(tree, mesh: Mesh):
    """Place every array of ``tree`` with its leading (batch) axis split over the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec(BATCH_AXIS)))


def replicate(tree, mesh: Mesh):
    """Place ``tree`` (e.g. judge parameters) whole on every device of the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


def round_up_batch(batch_size: int, mesh: Mesh) -> int:
    """The smallest multiple of the device count that holds ``batch_size`` games."""
    devices = mesh.devices.size
    return -(-batch_size // devices) * devices
