"""Process-wide tuning of the daemon, applied once at start-up, before any thread starts.

* ``gc.freeze()``: the ~300k objects the imports create live as long as the process; moving
  them out of the collector's reach makes every collection cheaper.
* a larger first-generation threshold: a poll of 10k changing objects makes 10k records (tuples
  of atoms, freed by reference counting); at the default 700 allocations a collection ran ~15
  times a poll, costing more than decoding the dump.
* one glibc malloc arena: glibc gives each thread that allocates its own arena, and each keeps
  what was freed in it; the poller, the carbon sender and the HTTP threads all allocate
  megabyte-sized texts, and the GIL serialises them anyway.
* a fixed mmap threshold: glibc raises it as large blocks are freed, after which the per-poll
  megabyte texts come from the heap and fragment it; fixed, they are mapped and unmapped, and
  the resident size stays that of what is live.
"""

import ctypes
import gc

GEN0_THRESHOLD = 50_000
M_MMAP_THRESHOLD = -3  # glibc malloc.h
M_ARENA_MAX = -8
MMAP_THRESHOLD = 256 * 1024


def for_daemon() -> None:
    """Call once from the daemon's entry point, after the imports, before starting threads."""
    gc.freeze()
    gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc: nothing to tune
        return
    mallopt(M_ARENA_MAX, 1)
    mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
