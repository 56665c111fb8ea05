"""How glmchat writes sizes: binary units (GiB, MiB, KiB) everywhere, one helper.

File sizes, RAM and GPU memory all go through `size_text`, so `glmchat models`, `doctor`, the
download messages and the TUI's download panel say the same thing about the same bytes. Standard
library only: the CLI and the TUI's widgets both import it.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024**2
GIB = 1024**3

_UNITS = (("GiB", GIB), ("MiB", MIB), ("KiB", KIB))


def size_text(n: float) -> str:
    """`n` bytes as "16.3 GiB", "512.0 MiB", "12.5 KiB" or "300 B" (the largest unit it reaches)."""
    for unit, size in _UNITS:
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"

