"""Building large in-memory structures in one go (the account directory and index)."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a large structure is built: its hundreds of
    thousands of new objects hold no cycles, yet each allocation burst would start a
    collection that walks every object alive (a third of an index's build time, and of an
    accounts file's reading)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


KEEP_BUILT_FROM = 20_000
"""Records built in one go from which what was built is frozen (`keep_built`)."""


def keep_built(count: int) -> None:
    """Inside `collector_paused`, once `count` records were built to be kept for the process's
    life (the accounts read, their index): from KEEP_BUILT_FROM records on, move every object
    alive out of the cyclic collector's reach (`gc.freeze`, as `settle_started_heap` does at
    the end of a start). Otherwise the first collection after the pause walks everything built
    during it, as young objects, once after the accounts are read and once after the index is
    built. Frozen objects without cycles are still freed as soon as they are dropped."""
    if count >= KEEP_BUILT_FROM:
        gc.freeze()


def settle_started_heap() -> None:
    """Collect what start-up left over, then move every object alive (modules, compiled graph,
    settings, the account index) out of the cyclic collector's reach, once a long-running
    process has started.

    A full collection walks every object the collector tracks: with a started service's few
    hundred thousand, a pause of about 0.1 s that lands on whichever request is running when
    enough new objects have piled up (the p99 of a steady stream of webhooks). Frozen, the
    start's objects are not walked again; objects without cycles are still freed as soon as
    they are dropped, so an account index swapped out by a refresh goes as before.
    """
    gc.collect()
    gc.freeze()
