"""The garbage-collector policy of a processor that owns its process (runtime/gc_policy.py)."""

from __future__ import annotations

import gc
import weakref

from fraudstream.runtime.gc_policy import GcWatch


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_watch_times_collections_and_frozen_objects_wait_for_the_unfreeze() -> None:
    watch = GcWatch()
    watch.install()
    try:
        for _ in range(100):
            _Node()  # garbage cycles
        gc.collect()
        s = watch.stats
        assert s.collections >= 1 and s.full_collections >= 1
        assert s.collected >= 100 and s.max_pause_s > 0
        kept = [_Node() for _ in range(1000)]  # long-lived state
        probe = weakref.ref(kept[0])
        watch.freeze()
        assert watch.stats.frozen == gc.get_freeze_count() >= len(kept)
        # the trade-off: a cycle frozen while alive is not collected once it is garbage ...
        del kept
        gc.collect()
        assert probe() is not None
    finally:
        watch.uninstall()
    # ... until the processor hands the frozen objects back at its end
    assert gc.get_freeze_count() == 0 and watch._callback not in gc.callbacks
    gc.collect()
    assert probe() is None
