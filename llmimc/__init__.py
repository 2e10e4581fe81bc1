"""llmimc: an LLM-focused, serving-style emulator for in-memory-computing (IMC) chiplet systems.

Pipeline (see DESIGN.md §1): model → OpGraph → compression plan → mapping → cost → profile / serve.
The library computes and returns typed results; only ``llmimc_cli`` and ``llmimc.report`` print.
"""

__version__ = "0.1.0"
