"""Placement of pipeline stages on the package topology and routing of transfers (DESIGN.md §4).

Stage order: a greedy nearest-neighbour walk over the package graph starting at the first chiplet
with an off-package memory controller (embeddings and spilled KV come from there); at each step the
walk moves to the closest unvisited chiplet by hop count, ties broken by the lowest index. On a ring
this is the ring order; on a row-major 2-D mesh or torus it is the snake (boustrophedon) order, so
consecutive stages are one hop apart wherever the topology allows.

Routes: deterministic shortest paths from ``llmimc.hw.shortest_path`` (BFS, lowest-index tie-break),
computed only for the chiplet pairs that exchange data (consecutive stage homes, every split or routed
block's home and members, memory-attached chiplet to every chiplet), so placement stays linear in the
chiplet count.
"""

from __future__ import annotations

from llmimc.hw.topology import hop_distance_matrix


def stage_order(num_chiplets: int, links: list[tuple[int, int]], start: int) -> list[int]:
    """Greedy nearest-neighbour walk over all chiplets from ``start`` (see module docstring)."""
    hops = hop_distance_matrix(links, num_chiplets)
    order = [start]
    seen = {start}
    cur = start
    while len(order) < num_chiplets:
        dist = hops[cur]
        best = min(
            (v for v in range(num_chiplets) if v not in seen),
            key=lambda v: (dist[v] if dist[v] >= 0 else num_chiplets + 1, v),
        )
        order.append(best)
        seen.add(best)
        cur = best
    return order


def route_key(src: int, dst: int) -> str:
    return f"{src}->{dst}"


def route_hops(route: list[int]) -> list[tuple[int, int]]:
    """Directed links (u, v) traversed by a route given as a chiplet sequence."""
    return [(route[i], route[i + 1]) for i in range(len(route) - 1)]


def route_pairs(
    stage_homes: list[int], transfer_pairs: list[tuple[int, int]], memory_chiplet: int, num_chiplets: int
) -> list[tuple[int, int]]:
    """Chiplet pairs that exchange data (see module docstring), sorted."""
    pairs: set[tuple[int, int]] = set(zip(stage_homes, stage_homes[1:], strict=False))
    for c in range(num_chiplets):
        pairs.add((memory_chiplet, c))
        pairs.add((c, memory_chiplet))
    pairs.update(transfer_pairs)
    return sorted(pairs)
