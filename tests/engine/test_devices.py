"""What the machine offers the engine: its physical cores."""

from __future__ import annotations

from glmchat.engine.devices import physical_cores


def test_physical_cores_sane():
    import os

    assert 1 <= physical_cores() <= (os.cpu_count() or 1)
