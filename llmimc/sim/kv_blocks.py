"""Block-based KV-cache allocator with an optional ref-counted prefix cache (DESIGN.md §5).

Models vLLM's PagedAttention block manager (Kwon et al., "Efficient Memory Management for Large
Language Model Serving with PagedAttention", SOSP 2023): the KV capacity of the package (on-package
SRAM plus off-package memory, from the cost model's residency plan) is cut into fixed-size blocks of
``block_tokens`` tokens; a request holds ceil(tokens / block_tokens) blocks.

Prefix caching follows vLLM's automatic prefix caching and Mooncake's trace format (Qin et al.,
"Mooncake", FAST 2025): a request may carry prefix-block ids (``hash_ids``), one per
``prefix_block_tokens`` prompt tokens, where equal leading ids mean equal KV content. A *full* prefix
block that a request has computed is registered under its id and occupies
``prefix_block_tokens / block_tokens`` KV blocks. Entries are reference counted; an entry whose count
drops to zero stays cached (its KV is still valid) but is evictable, least recently released first.
Blocks are counted, not identified: only how many are free, cached or in use matters to the scheduler.

Plain ints and dicts only: this sits in the simulator's hot loop.
"""

from __future__ import annotations

from collections import OrderedDict


class KVBlockAllocator:
    """Counts free blocks and keeps the prefix cache (id -> reference count, LRU of unreferenced ids)."""

    __slots__ = ("total_blocks", "blocks_per_prefix_block", "free_blocks", "evictions", "_refs", "_lru")

    def __init__(self, total_blocks: int, blocks_per_prefix_block: int = 0) -> None:
        if total_blocks < 0:
            raise ValueError(f"total_blocks must be >= 0, got {total_blocks}")
        self.total_blocks = total_blocks
        self.blocks_per_prefix_block = blocks_per_prefix_block  # 0: prefix caching off
        self.free_blocks = total_blocks
        self.evictions = 0  # prefix-cache entries evicted to make room
        self._refs: dict[int, int] = {}  # prefix id -> number of requests referencing it
        self._lru: OrderedDict[int, None] = OrderedDict()  # ids with zero references, oldest first

    # -- capacity -----------------------------------------------------------------------------------
    @property
    def cached_blocks(self) -> int:
        """Blocks held by unreferenced (evictable) prefix-cache entries."""
        return len(self._lru) * self.blocks_per_prefix_block

    @property
    def used_blocks(self) -> int:
        """Blocks referenced by requests (private blocks plus referenced prefix entries)."""
        return self.total_blocks - self.free_blocks - len(self._lru) * self.blocks_per_prefix_block

    def available(self) -> int:
        """Blocks that an allocation may take: free ones plus evictable cached ones."""
        return self.free_blocks + len(self._lru) * self.blocks_per_prefix_block

    def allocate(self, n_blocks: int) -> bool:
        """Take ``n_blocks`` private blocks, evicting LRU cache entries if needed; False if impossible."""
        if n_blocks <= self.free_blocks:
            self.free_blocks -= n_blocks
            return True
        if n_blocks > self.available():
            return False
        lru = self._lru
        refs = self._refs
        per = self.blocks_per_prefix_block
        while self.free_blocks < n_blocks:
            prefix_id, _ = lru.popitem(last=False)
            del refs[prefix_id]
            self.free_blocks += per
            self.evictions += 1
        self.free_blocks -= n_blocks
        return True

    def free(self, n_blocks: int) -> None:
        """Return private blocks to the free pool."""
        self.free_blocks += n_blocks

    # -- prefix cache -------------------------------------------------------------------------------
    def acquire(self, prefix_id: int) -> bool:
        """Reference a cached prefix block; False on a miss."""
        count = self._refs.get(prefix_id)
        if count is None:
            return False
        if count == 0:
            del self._lru[prefix_id]
        self._refs[prefix_id] = count + 1
        return True

    def register(self, prefix_id: int) -> bool:
        """Hand a request's freshly computed full prefix block to the cache (the request keeps a reference).

        Returns True if the request's own blocks now back a new entry; False if an equal entry already
        existed (computed concurrently by another request): then the request references that entry
        instead and the caller frees its duplicate private blocks.
        """
        if self.acquire(prefix_id):
            return False
        self._refs[prefix_id] = 1
        return True

    def release(self, prefix_id: int) -> None:
        """Drop one reference; an entry with no references stays cached and becomes evictable."""
        count = self._refs[prefix_id] - 1
        self._refs[prefix_id] = count
        if count == 0:
            self._lru[prefix_id] = None
