"""Built-in hardware specs shipped as package data (see llmimc.hw.registry)."""
