"""The pipeline's plumbing, the lowest layer: the stage runner (params, logging, one-line
errors, the arithmetic pins), typed params sections, atomic file writes and line-numbered
readers, the rule for folders written where the user names (owned.py), the row schema
every stage agrees on, and secret scrubbing.

Imports nothing else of mpn; torch only where a stage asks for threads."""
