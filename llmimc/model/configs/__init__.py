"""Bundled published config.json files of popular causal LMs (offline use)."""
