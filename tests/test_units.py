"""One way to write sizes: binary units (GiB, MiB, KiB), used by every command and the TUI."""

from __future__ import annotations

import re
from pathlib import Path

from glmchat.units import GIB, KIB, MIB, size_text


def test_sizes_are_written_in_binary_units():
    assert size_text(0) == "0 B"
    assert size_text(1023) == "1023 B"
    assert size_text(KIB) == "1.0 KiB"
    assert size_text(684_000) == "668.0 KiB"
    assert size_text(3 * MIB // 2) == "1.5 MiB"
    assert size_text(int(16.31 * GIB)) == "16.3 GiB"
    assert size_text(25_232_932_864) == "23.5 GiB"  # what `doctor` and `models` both say of the same RAM


def test_no_module_formats_sizes_in_decimal_units_of_its_own():
    """GB/MB/kB spelled next to a size in glmchat's source means a helper other than size_text."""
    root = Path(__file__).resolve().parents[1] / "glmchat"
    decimal = re.compile(r"""(1e9|1e6|1e3)\b.*\b(GB|MB|kB)\b|\b(GB|MB|kB)["')]""")
    offenders = [
        f"{p.relative_to(root)}:{i}"
        for p in root.rglob("*.py")
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if decimal.search(line) and "planner.py" not in p.name  # the planner's README table names GPU classes ("8 GB")
    ]
    assert offenders == []
