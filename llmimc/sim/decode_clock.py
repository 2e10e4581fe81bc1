"""A decode clock shared by every decoding request, so a decode iteration updates O(1) state, not O(batch).

Every request in a scheduler's ``decoding`` list takes one token per iteration (the scheduler's fast
path; it falls back to per-request updates when not: token budget short of the batch, a KV block
boundary that needs more blocks than are free). So instead of adding to each request's fields at
each iteration, the clock counts the decode iterations k and logs each one's per-token energy e_k
and end time; a request stores its fields as of the clock value ``clock_k`` at which it joined (or
was last brought up to date), and at clock k its state is

    computed = computed_0 + (k - k_0),   left = left_0 - (k - k_0),   last token = end of iteration k - 1
    energy   = energy_0 + (E_k - E_k0),   E_k = e_0 + ... + e_k-1 (a compensated running sum)
    blocks   = blocks_0 + #{j in [0, k - k_0) : (computed_0 + j) mod b = 0}

``sync`` writes these into the request (before anything reads it: preemption, finish, the fallback).
The running sum E is kept as a pair (hi, lo) by Knuth's TwoSum (hi + lo is the exact sum up to the
rounding of the small ``lo``), so a window E_k - E_k0 = (hi_k - hi_k0) + (lo_k - lo_k0) is within a few
ulps of its own value however long the run, and a sync costs O(1) instead of one addition per
iteration. The per-request path adds e_k to each request one iteration at a time; the two differ only
in rounding (~1e-16 relative; tests/sim/test_serve_decode_clock.py checks 1e-12).
The aggregates the scheduler needs are kept exactly as requests join and leave:

- allocations at iteration k = #{requests : (k_0 - computed_0) mod b = k mod b} (``residue``);
- Sum of past tokens = Sum (computed_0 - k_0) + n k (``offset_sum``);
- the iteration at which requests finish: k_0 + left_0 (``finish``: the requests per clock value).

The token gaps at iteration k: every request with k_0 < k emitted its last token at the end of
iteration k - 1 (``last_end_s``); only requests that joined since (``fresh``) carry their own.
"""

from __future__ import annotations

from heapq import heappop, heappush
from operator import attrgetter

from llmimc.sim.sched_state import GapCounts, ReqState

TRIM_AFTER = 1 << 16  # running-sum entries kept before they are cut to the oldest request's mark

_last_token = attrgetter("last_token_at_s")
_clock_k = attrgetter("clock_k")
_seq = attrgetter("seq")


class DecodeClock:
    """Shared decode progress of one scheduler's decoding requests (module docstring)."""

    __slots__ = (
        "k",
        "base",
        "sum_hi",
        "sum_lo",
        "last_end_s",
        "bt",
        "residue",
        "offset_sum",
        "finish",
        "_finish_heap",
        "fresh",
        "scheduled",
        "_trim_at",
    )

    def __init__(self, block_tokens: int) -> None:
        self.k = 0  # clocked decode iterations so far
        self.base = 0  # clock value of sum_hi[0]
        # running sum E of the per-token energies (J) of the clocked iterations, as hi + lo (module
        # docstring); entry i is E at clock value base + i (absolute: trimming drops old entries)
        self.sum_hi: list[float] = [0.0]
        self.sum_lo: list[float] = [0.0]
        self.last_end_s = -1.0  # end of the latest clocked iteration
        self.bt = block_tokens
        self.residue = [0] * block_tokens  # (k_0 - computed_0) mod b -> requests
        self.offset_sum = 0  # Sum (computed_0 - k_0)
        self.finish: dict[int, list[ReqState]] = {}  # k_0 + left_0 -> requests
        self._finish_heap: list[int] = []  # keys of ``finish`` (and stale ones, dropped when on top)
        self.fresh: list[ReqState] = []  # joined since the latest clocked iteration (own last token)
        self._trim_at = TRIM_AFTER
        self.scheduled = 0  # decoding[:scheduled] take a token by the clock in the iteration being built

    def join(self, r: ReqState) -> None:
        """r (fields up to date) decodes from the next iteration on."""
        k = self.k
        r.clock_k = k
        self.residue[(k - r.computed) % self.bt] += 1
        self.offset_sum += r.computed - k
        t = k + r.left
        at = self.finish.get(t)
        if at is None:
            self.finish[t] = [r]
            heappush(self._finish_heap, t)
        else:
            at.append(r)
        self.fresh.append(r)

    def leave(self, r: ReqState) -> None:
        """r stops decoding (synced or not: the aggregates do not change as it advances)."""
        self.residue[(r.clock_k - r.computed) % self.bt] -= 1
        self.offset_sum -= r.computed - r.clock_k
        t = r.clock_k + r.left
        at = self.finish[t]
        if len(at) > 1:
            at.remove(r)
        else:
            del self.finish[t]

    def sync(self, r: ReqState) -> None:
        """Write r's state at the current clock into its fields (module docstring)."""
        d = self.k - r.clock_k
        if d:
            c = r.computed
            i = r.clock_k - self.base
            hi, lo = self.sum_hi, self.sum_lo
            r.energy_j += (hi[i + d] - hi[i]) + (lo[i + d] - lo[i])
            first = -c % self.bt
            if first < d:
                r.private_blocks += 1 + (d - 1 - first) // self.bt
            r.computed = c + d
            r.left -= d
            r.last_token_at_s = self.last_end_s
            r.clock_k = self.k

    def sync_all(self, decoding: list[ReqState]) -> None:
        for r in decoding:
            self.sync(r)

    def rebuild(self, decoding: list[ReqState]) -> None:
        """Restart the aggregates from the requests' fields (all up to date), after per-request updates."""
        self.residue = [0] * self.bt
        self.offset_sum = 0
        self.finish = {}
        self._finish_heap = []
        self.fresh = []
        self.sum_hi = [0.0]
        self.sum_lo = [0.0]
        self.base = self.k
        self._trim_at = TRIM_AFTER
        for r in decoding:
            self.join(r)

    def tick(self, e_tok: float, end_s: float, decoding: list[ReqState]) -> None:
        """One clocked iteration: every decoding request took a token, each charged ``e_tok``."""
        hi = self.sum_hi
        h = hi[-1]
        s = h + e_tok
        bp = s - h
        self.sum_lo.append(self.sum_lo[-1] + ((h - (s - bp)) + (e_tok - bp)))  # TwoSum's error term
        hi.append(s)
        self.k += 1
        self.last_end_s = end_s
        if self.fresh:
            self.fresh = []
        if len(hi) > self._trim_at:
            self.trim(decoding)

    def advance(self, e_toks: list[float], end_s: float, decoding: list[ReqState]) -> None:
        """len(e_toks) clocked iterations at once (a decode stretch), the last ending at ``end_s``."""
        hi, lo = self.sum_hi, self.sum_lo
        h, low = hi[-1], lo[-1]
        for e in e_toks:  # as ``tick``, one iteration at a time
            s = h + e
            bp = s - h
            low += (h - (s - bp)) + (e - bp)
            h = s
            hi.append(h)
            lo.append(low)
        self.k += len(e_toks)
        self.last_end_s = end_s
        if self.fresh:
            self.fresh = []
        if len(hi) > self._trim_at:
            self.trim(decoding)

    def trim(self, decoding: list[ReqState]) -> None:
        """Drop running-sum entries no decoding request still needs (bounded memory on long runs)."""
        oldest = min(map(_clock_k, decoding)) if decoding else self.k
        # a request admitted with its KV during this step is in ``decoding`` before it joins: its mark
        # is stale, so it can only hold the cut back (never below the log's start)
        oldest = max(oldest, self.base)
        del self.sum_hi[: oldest - self.base]
        del self.sum_lo[: oldest - self.base]
        self.base = oldest
        self._trim_at = len(self.sum_hi) + TRIM_AFTER

    def add_gaps(self, hist: GapCounts, end_s: float, decoding: list[ReqState], n: int) -> None:
        """Record the token gaps of decoding[:n] for an iteration ending at ``end_s`` (as
        ``sched_state.add_token_gaps``: one entry of count n when every last token is the same)."""
        fresh = self.fresh
        if not fresh:
            hist.add(end_s - self.last_end_s, n)
            return
        lasts = set(map(_last_token, fresh))
        if len(fresh) < n:
            lasts.add(self.last_end_s)
        if len(lasts) == 1:
            hist.add(end_s - lasts.pop(), n)
            return
        k, shared = self.k, self.last_end_s
        for r in decoding[:n]:
            hist.add(end_s - (r.last_token_at_s if r.clock_k == k else shared), 1)

    def view(self, r: ReqState, decoding: list[ReqState]) -> tuple[int, int]:
        """(past tokens, blocks held) of r as the iteration being costed sees them (for checks: fields of
        a decoding request are as of its mark, and an iteration takes its blocks when it is scheduled)."""
        if not any(x is r for x in decoding):
            return r.computed, r.private_blocks
        d = self.k - r.clock_k
        first = -r.computed % self.bt
        gained = 1 + (d - 1 - first) // self.bt if first < d else 0
        c = r.computed + d
        if c % self.bt == 0 and any(x is r for x in decoding[: self.scheduled]):
            gained += 1
        return c, r.private_blocks + gained

    def next_finish(self) -> int:
        """The first clock value at which a decoding request emits its last token (some must decode)."""
        heap, finish = self._finish_heap, self.finish
        while heap[0] not in finish:  # a key whose requests finished or left
            heappop(heap)
        return heap[0]

    def finishing(self) -> list[ReqState]:
        """The requests whose last token was the latest iteration's, synced and out of the clock, in
        admission order."""
        k, bt, residue = self.k, self.bt, self.residue
        done = self.finish.pop(k)
        heap = self._finish_heap
        while heap and heap[0] <= k:  # spent keys (bounded memory without event skipping too)
            heappop(heap)
        if len(done) > 1:
            done.sort(key=_seq)
        for r in done:
            residue[(r.clock_k - r.computed) % bt] -= 1
            self.offset_sum -= r.computed - r.clock_k
            self.sync(r)
        return done
