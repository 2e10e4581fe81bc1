"""Regenerate the pre-traced OpGraphs shipped with llmimc for its bundled models.

For every bundled model this traces its bundled config with the real tracer
(``load_opgraph(id, use_cache=False)``) and writes ``llmimc/model/configs/<stem>.opgraph.json.gz``
(deterministic gzip: regenerating with unchanged code gives identical bytes). Run it after changing
the tracer, a bundled config, TRACE_FORMAT or the llmimc version; tests/model/test_model_shipped.py
fails until you do.

Usage: python tools/regen_bundled_graphs.py [--check] [MODEL ...]
  --check   write nothing; exit 1 if any shipped file differs from a fresh trace
"""

from __future__ import annotations

import argparse
import sys
import time
from importlib import resources

from llmimc.model import list_bundled_models, load_opgraph
from llmimc.model.shipped import shipped_graph_bytes, shipped_graph_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="bundled ids or aliases (default: all)")
    parser.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = parser.parse_args(argv)
    configs_dir = resources.files("llmimc.model.configs")
    wanted = {m.lower() for m in args.models}
    models = [
        m
        for m in list_bundled_models()
        if not wanted or wanted & {m.id.lower(), *(a.lower() for a in m.aliases)}
    ]
    if wanted and not models:
        print(f"no bundled model matches {sorted(wanted)}; see `llmimc models`", file=sys.stderr)
        return 2
    stale = 0
    total_bytes = 0
    for model in models:
        start = time.perf_counter()
        data = shipped_graph_bytes(load_opgraph(model.id, use_cache=False))
        path = configs_dir.joinpath(shipped_graph_file(model))
        old = path.read_bytes() if path.is_file() else None
        total_bytes += len(data)
        state = "unchanged" if old == data else ("stale" if args.check else "written")
        if old != data:
            stale += 1
            if not args.check:
                with open(str(path), "wb") as fh:
                    fh.write(data)
        print(f"{model.id:32s} {len(data):8,d} B  {time.perf_counter() - start:5.1f} s  {state}")
    print(f"{len(models)} graphs, {total_bytes:,} B in all, {stale} {'stale' if args.check else 'rewritten'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
