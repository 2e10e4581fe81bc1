"""Package topologies: hand-counted links, hop distances vs closed forms, routes, bisection widths."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmimc.errors import SpecError
from llmimc.hw import (
    bisection_links,
    hop_distance_matrix,
    load_spec,
    shortest_path,
    shortest_paths,
    topology_links,
)


def _pkg(topology: str, num_chiplets: int = 16, mesh_cols: int | None = None, explicit=()):
    base = load_spec("rram-chiplet").package
    return base.model_copy(
        update={
            "topology": topology,
            "num_chiplets": num_chiplets,
            "mesh_cols": mesh_cols,
            "explicit_links": list(explicit),
        }
    )


@pytest.mark.parametrize(
    ("topology", "n", "expected"),
    [
        ("ring", 1, []),
        ("ring", 2, [(0, 1)]),
        ("ring", 4, [(0, 1), (0, 3), (1, 2), (2, 3)]),
        ("mesh2d", 4, [(0, 1), (0, 2), (1, 3), (2, 3)]),
        # 5 chiplets, 3 columns: row 0 = 0 1 2, row 1 = 3 4
        ("mesh2d", 5, [(0, 1), (0, 3), (1, 2), (1, 4), (3, 4)]),
        ("all_to_all", 4, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)]),
    ],
)
def test_links_hand_counted(topology, n, expected):
    assert topology_links(_pkg(topology, n), n) == expected


def test_torus_4x4_is_4_regular_with_32_links():
    links = topology_links(_pkg("torus2d", 16), 16)
    assert len(links) == 32
    degree = [sum(c in link for link in links) for c in range(16)]
    assert degree == [4] * 16


def test_mesh_width_override_and_explicit_links():
    assert topology_links(_pkg("mesh2d", 4, mesh_cols=4), 4) == [(0, 1), (1, 2), (2, 3)]
    pkg = _pkg("explicit", 4, explicit=[(2, 0), (0, 2), (3, 1)])
    assert topology_links(pkg, 4) == [(0, 2), (1, 3)]
    with pytest.raises(SpecError, match="explicit_links"):
        topology_links(pkg, 3)


@pytest.mark.parametrize("rows,cols", [(2, 3), (4, 4), (3, 5)])
def test_mesh_hops_are_manhattan_and_torus_hops_wrap(rows, cols):
    n = rows * cols
    mesh = hop_distance_matrix(topology_links(_pkg("mesh2d", n, mesh_cols=cols), n), n)
    torus = hop_distance_matrix(topology_links(_pkg("torus2d", n, mesh_cols=cols), n), n)
    for a, b in itertools.product(range(n), repeat=2):
        dr, dc = abs(a // cols - b // cols), abs(a % cols - b % cols)
        assert mesh[a][b] == dr + dc
        assert torus[a][b] == min(dr, rows - dr) + min(dc, cols - dc)


@settings(max_examples=60, deadline=None)
@given(
    topology=st.sampled_from(["ring", "mesh2d", "torus2d", "all_to_all"]),
    n=st.integers(1, 40),
    data=st.data(),
)
def test_shortest_path_is_a_shortest_walk_on_links(topology, n, data):
    links = topology_links(_pkg(topology, n), n)
    src = data.draw(st.integers(0, n - 1))
    dst = data.draw(st.integers(0, n - 1))
    path = shortest_path(links, src, dst)
    assert path[0] == src and path[-1] == dst
    link_set = set(links)
    assert all((min(a, b), max(a, b)) in link_set for a, b in zip(path, path[1:], strict=False))
    assert len(path) - 1 == hop_distance_matrix(links, n)[src][dst]
    assert shortest_path(links, src, dst) == path  # deterministic


@pytest.mark.parametrize("topology", ["ring", "mesh2d", "torus2d", "all_to_all"])
def test_batched_routes_equal_single_routes(topology):
    n = 12
    links = topology_links(_pkg(topology, n), n)
    pairs = list(itertools.product(range(n), repeat=2))
    routes = shortest_paths(links, pairs)
    assert routes == {(a, b): shortest_path(links, a, b) for a, b in pairs}


def test_disconnected_explicit_topology():
    links = topology_links(_pkg("explicit", 4, explicit=[(0, 1), (2, 3)]), 4)
    assert hop_distance_matrix(links, 4)[0][3] == -1
    with pytest.raises(SpecError, match="no die-to-die route"):
        shortest_path(links, 0, 3)
    with pytest.raises(SpecError, match="no die-to-die route"):
        shortest_paths(links, [(0, 1), (0, 3)])


@pytest.mark.parametrize(
    ("topology", "n", "cols", "expected"),
    [
        ("ring", 8, None, 2),
        ("ring", 2, None, 1),
        ("mesh2d", 16, None, 4),  # 4x4 mesh: cut between two rows
        ("torus2d", 16, None, 8),  # 4x4 torus: the wrap links double it
        ("all_to_all", 8, None, 16),
        ("mesh2d", 25, None, 6),  # 5x5 mesh (heuristic path, n > 16): k + 1 for odd k
        ("mesh2d", 64, None, 8),  # 8x8 mesh
        ("ring", 100, None, 2),
    ],
)
def test_bisection_widths(topology, n, cols, expected):
    assert bisection_links(_pkg(topology, n, mesh_cols=cols), n) == expected
