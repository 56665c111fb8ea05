"""What a streaming turn changes for the whole process, as one context manager.

The turn's thread needs the GIL for a moment after every token; by default a busy UI thread keeps
it for up to 5 ms first, which cost a local model ~9% of its speed at 30 repaints a second even
with a core to spare, and holds up the end of a fast stream. So the GIL is handed over within
0.2 ms while the turn runs. And a full cyclic GC collection holds the GIL for 30-120 ms (measured
in a long session), stopping the model's thread with it: none while a local model streams, one
after the final paint.
"""

from __future__ import annotations

import gc
import sys
from contextlib import contextmanager
from typing import Iterator

GIL_SWITCH_INTERVAL = 0.0002  # seconds, while a turn runs


@contextmanager
def turn_process_settings(pause_gc: bool) -> Iterator[bool]:
    """Hand the GIL over quickly (and pause cyclic GC when `pause_gc`) until the block ends;
    yields whether GC was paused (then the caller owes the process one collection)."""
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    paused = pause_gc and gc.isenabled()
    if paused:
        gc.disable()
    try:
        yield paused
    finally:
        sys.setswitchinterval(switch_interval)
        if paused:
            gc.enable()
