"""Shared test builders, importable from every test as ``support.*`` (pytest's pythonpath is tests/).

- ``support.graphs``: hand-built OpGraphs (``hand_llama_graph``, ``hand_gpt2_graph``, ``linear``) and
  tiny safetensors checkpoints, no tracing.
- ``support.imc``: the IMC cost-model kit: the hand spec (``HAND_SPEC``, ``make_spec``), plans
  (``plan_for``), hand and random graphs, and ``traced_tiny_llama_graph`` (a real transformers trace).
- ``support.gpu``: GPU spec and graph builders for the per-kernel model.
- ``support.serve_fakes``: a fake iteration cost model and request builders for the scheduler.
- ``support.hf_reference``: a real CPU forward under FlopCounterMode (the FLOP reference).
- ``support.golden``: the golden CLI cases (``tools/regen_golden.py`` rewrites them).
- ``support.accuracy``: a tiny random Llama with planted outliers for the accuracy emulator.
"""
