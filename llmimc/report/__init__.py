"""Rendering: the only place numbers become text and files are written (DESIGN.md §1).

- ``units``: the one number formatter (SI prefixes, byte sizes, shares, counts) and sparkline.
- ``sections``: a report as plain tables and lines, rendered as rich tables, plain ASCII or Markdown.
- ``profile_report``, ``serve_report``, ``hw_report``, ``model_report``, ``presets_report``: one per command.
- ``timeline``: Chrome/Perfetto trace JSON of a serving run.
- ``output``: output paths checked before work starts and written atomically.
"""
