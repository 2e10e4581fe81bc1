"""KVBlockAllocator: block counting, reference counts and LRU eviction of the prefix cache."""

from __future__ import annotations

from llmimc.sim.kv_blocks import KVBlockAllocator


def test_allocate_and_free_count_blocks():
    alloc = KVBlockAllocator(10)
    assert alloc.allocate(4) and alloc.allocate(6)
    assert not alloc.allocate(1)
    assert alloc.used_blocks == 10
    alloc.free(3)
    assert alloc.available() == 3 and alloc.used_blocks == 7


def test_unreferenced_entries_stay_cached_and_are_evicted_least_recently_released_first():
    alloc = KVBlockAllocator(12, blocks_per_prefix_block=2)
    assert alloc.allocate(6)
    for prefix_id in (1, 2, 3):
        assert alloc.register(prefix_id)  # the request's 6 private blocks now back 3 entries
    assert alloc.used_blocks == 6
    for prefix_id in (3, 2, 1):  # released tail first, as the scheduler does
        alloc.release(prefix_id)
    assert alloc.used_blocks == 0 and alloc.cached_blocks == 6 and alloc.available() == 12
    assert alloc.acquire(1)  # a hit takes it off the LRU list
    assert alloc.allocate(8)  # 6 free + evict entry 3 (oldest release)
    assert alloc.evictions == 1
    assert not alloc.acquire(3)
    assert alloc.acquire(2)
    assert not alloc.allocate(1)  # 2 and 1 are referenced, nothing left
    assert alloc.used_blocks == 12


def test_registering_an_existing_entry_shares_it():
    alloc = KVBlockAllocator(8, blocks_per_prefix_block=2)
    alloc.allocate(2)
    assert alloc.register(5)
    alloc.allocate(2)
    assert not alloc.register(5)  # computed twice concurrently: caller frees its copy
    alloc.free(2)
    assert alloc.used_blocks == 2
    alloc.release(5)
    assert alloc.used_blocks == 2  # still referenced once
    alloc.release(5)
    assert alloc.used_blocks == 0 and alloc.cached_blocks == 2
