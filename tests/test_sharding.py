"""The batch axis sharded over 4 (forced host) devices gives the same debates as one device."""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from forced_devices import run_with_devices  # noqa: E402

SCRIPT = Path(__file__).parent / "sharded_debates.py"


def test_sharded_run_equals_single_device_run():
    one, four = run_with_devices(SCRIPT, 1), run_with_devices(SCRIPT, 4)
    assert one["devices"] == 1 and one["shards"] == 1
    assert four["devices"] == 4 and four["shards"] == 4
    assert four["actions"] == one["actions"]
    np.testing.assert_allclose(four["margins"], one["margins"], rtol=1e-4, atol=1e-4)
    assert four["honest_wins"] == one["honest_wins"]
    assert four["judge_alone"] == one["judge_alone"]
