"""Package topologies: which chiplets a die-to-die link joins, hop distances, routes, bisection.

Chiplets are numbered 0..n-1. Grid topologies (mesh2d, torus2d) place chiplet i at row i // cols,
column i % cols (row-major); the last row may be partial. ``cols`` is ``Package.mesh_cols`` when set
(clamped to n), otherwise near-square: ceil(sqrt(n)).

- ring: i -- (i+1) mod n (one link for n = 2, none for n = 1).
- mesh2d: right and down neighbours that exist.
- torus2d: mesh2d plus a wrap-around link between the first and last chiplet of every row and every
  column that has more than two chiplets (two-chiplet rows/columns already have their only link).
- all_to_all: every pair.
- explicit: ``Package.explicit_links``, normalised to (low, high), duplicates merged.

Routing is shortest-path (hop count) by breadth-first search, visiting neighbours in increasing index
order, so routes are deterministic: among equal-length routes the one found first wins (Dally &
Towles, "Principles and Practices of Interconnection Networks", 2004, ch. 8-9, for the topologies).

Bisection: the fewest links cut by a split of the chiplets into two halves of floor(n/2) and ceil(n/2).
Exact by enumeration for n <= 16; above that the minimum over the row-major and column-major
halving cuts (exact for ring, full-rectangle meshes and tori; an upper bound otherwise), and the closed
form floor(n/2)*ceil(n/2) for all_to_all.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Sequence

from llmimc.errors import SpecError
from llmimc.hw.spec import Package, PackageTopology

Link = tuple[int, int]

_EXACT_BISECTION_MAX_CHIPLETS = 16


def grid_cols(package: Package, num_chiplets: int) -> int:
    """Columns of the mesh/torus grid: ``mesh_cols`` clamped to n, else ceil(sqrt(n))."""
    if package.mesh_cols is not None:
        return max(1, min(package.mesh_cols, num_chiplets))
    return max(1, math.ceil(math.sqrt(num_chiplets)))


def _grid_lines(num_chiplets: int, cols: int) -> tuple[list[list[int]], list[list[int]]]:
    rows_of_nodes = [list(range(r, min(r + cols, num_chiplets))) for r in range(0, num_chiplets, cols)]
    cols_of_nodes = [list(range(c, num_chiplets, cols)) for c in range(min(cols, num_chiplets))]
    return rows_of_nodes, cols_of_nodes


def topology_links(package: Package, num_chiplets: int) -> list[Link]:
    """Undirected chiplet pairs (a < b, sorted) joined by a die-to-die link."""
    n = int(num_chiplets)
    if n < 1:
        raise SpecError(f"num_chiplets must be >= 1, got {num_chiplets}")
    topo = package.topology
    links: set[Link] = set()
    if topo == PackageTopology.RING:
        if n == 2:
            links.add((0, 1))
        elif n >= 3:
            links.update((min(i, (i + 1) % n), max(i, (i + 1) % n)) for i in range(n))
    elif topo in (PackageTopology.MESH2D, PackageTopology.TORUS2D):
        rows_of_nodes, cols_of_nodes = _grid_lines(n, grid_cols(package, n))
        for line in rows_of_nodes + cols_of_nodes:
            links.update(zip(line[:-1], line[1:], strict=True))
            if topo == PackageTopology.TORUS2D and len(line) > 2:
                links.add((line[0], line[-1]))
    elif topo == PackageTopology.ALL_TO_ALL:
        links.update(itertools.combinations(range(n), 2))
    elif topo == PackageTopology.EXPLICIT:
        for a, b in package.explicit_links:
            if a >= n or b >= n:
                raise SpecError(
                    f"package.explicit_links: link [{a}, {b}] names a chiplet beyond 0..{n - 1}; "
                    f"use at least {max(a, b) + 1} chiplets or edit explicit_links"
                )
            links.add((min(a, b), max(a, b)))
    else:  # pragma: no cover - the enum is closed
        raise SpecError(f"package.topology: unknown topology {topo!r}")
    return sorted(links)


def _adjacency(links: Sequence[Link], num_chiplets: int) -> list[list[int]]:
    adj: list[list[int]] = [[] for _ in range(num_chiplets)]
    for a, b in links:
        adj[a].append(b)
        adj[b].append(a)
    return [sorted(set(nbrs)) for nbrs in adj]


def _num_nodes(links: Sequence[Link], *nodes: int) -> int:
    return 1 + max([*nodes, *(max(a, b) for a, b in links)], default=0)


def _bfs(adj: list[list[int]], src: int) -> tuple[list[int], list[int]]:
    """Hop distance and BFS parent of every node from ``src`` (-1 where unreachable).

    Neighbours are visited in increasing index order, so the parent tree (and every route read off it)
    is the deterministic lowest-index-first shortest path.
    """
    dist = [-1] * len(adj)
    parent = [-1] * len(adj)
    dist[src] = 0
    parent[src] = src
    queue = deque([src])
    while queue:
        node = queue.popleft()
        for nxt in adj[node]:
            if dist[nxt] < 0:
                dist[nxt] = dist[node] + 1
                parent[nxt] = node
                queue.append(nxt)
    return dist, parent


def _path(parent: list[int], src: int, dst: int) -> list[int]:
    if parent[dst] < 0:
        raise SpecError(
            f"no die-to-die route from chiplet {src} to chiplet {dst}: the package topology is not connected"
        )
    path = [dst]
    while path[-1] != src:
        path.append(parent[path[-1]])
    return path[::-1]


def _check_nodes(src: int, dst: int) -> None:
    if src < 0 or dst < 0:
        raise SpecError(f"chiplet indices must be >= 0, got {src} -> {dst}")


def shortest_path(links: Sequence[Link], src: int, dst: int) -> list[int]:
    """Chiplets on a fewest-hop route from ``src`` to ``dst`` (both included); BFS, lowest index first.

    Raises SpecError when no route exists (an explicit topology that is not connected).
    """
    _check_nodes(src, dst)
    if src == dst:
        return [src]
    _, parent = _bfs(_adjacency(links, _num_nodes(links, src, dst)), src)
    return _path(parent, src, dst)


def shortest_paths(
    links: Sequence[Link], pairs: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], list[int]]:
    """``shortest_path`` for many (src, dst) pairs: one adjacency and one BFS per distinct source."""
    nodes = [n for pair in pairs for n in pair]
    for a, b in pairs:
        _check_nodes(a, b)
    adj = _adjacency(links, _num_nodes(links, *nodes))
    trees: dict[int, list[int]] = {}
    out: dict[tuple[int, int], list[int]] = {}
    for a, b in pairs:
        if a == b:
            out[(a, b)] = [a]
            continue
        if a not in trees:
            trees[a] = _bfs(adj, a)[1]
        out[(a, b)] = _path(trees[a], a, b)
    return out


def hop_distances_from(links: Sequence[Link], num_chiplets: int, src: int) -> list[int]:
    """Fewest hops from ``src`` to every chiplet (BFS); -1 where no route exists."""
    adj = _adjacency(links, max(num_chiplets, _num_nodes(links)))
    return _bfs(adj, src)[0][:num_chiplets]


def hop_distance_matrix(links: Sequence[Link], num_chiplets: int) -> list[list[int]]:
    """Fewest hops between every pair of chiplets; -1 where no route exists."""
    adj = _adjacency(links, max(num_chiplets, _num_nodes(links)))
    return [_bfs(adj, src)[0][:num_chiplets] for src in range(num_chiplets)]


def _cut_size(links: Sequence[Link], side: set[int]) -> int:
    return sum((a in side) != (b in side) for a, b in links)


def bisection_links(package: Package, num_chiplets: int) -> int:
    """Links crossing the narrowest balanced cut of the package (see module docstring)."""
    n = int(num_chiplets)
    links = topology_links(package, n)
    if n < 2:
        return 0
    half = n // 2
    if package.topology == PackageTopology.ALL_TO_ALL:
        return half * (n - half)
    if n <= _EXACT_BISECTION_MAX_CHIPLETS:
        # fix chiplet 0 on one side when the halves are equal to halve the enumeration
        best = len(links)
        for side in itertools.combinations(range(n), half):
            if 2 * half == n and 0 not in side:
                continue
            best = min(best, _cut_size(links, set(side)))
        return best
    cols = grid_cols(package, n)
    row_major = set(range(half))
    col_major_order = [i for c in range(cols) for i in range(c, n, cols)]
    col_major = set(col_major_order[:half])
    return min(_cut_size(links, row_major), _cut_size(links, col_major))
