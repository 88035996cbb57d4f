"""Held-out lip-sync evaluation: sync figures (LSE-D / LSE-C style) and image figures per engine.

`sync` (the figures of one clip), `judges` (the expert that judges sync), `protocol` (pairs,
generation, rows over clips), `report` (table, plot, files), `command` (evaluate.py's flags).
"""
