"""The bottom layer, what every other layer shares: one-line user errors (errors.py),
typed params sections (knobs.py: a section into a dataclass with each field's allowed
values; params.py: the top-level keys and the `edit` section), atomic file writes and
line-numbered readers (io.py, readers.py), the rule for folders written where a user
names one (owned.py), the row schema every stage agrees on (schema.py), and secret
scrubbing (secrets.py).

Imports nothing else of mpn."""
