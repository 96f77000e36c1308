"""Strict line readers for upstream formats: a bad row names its file and line."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import IO, Iterator, Sequence

from mpn.core.errors import UserError

# Open text files with this error handler: an invalid byte becomes a lone surrogate that
# `numbered` reports with its file and line, instead of a traceback naming neither.
DECODE_ERRORS = "surrogateescape"
_BAD_BYTE = re.compile("[\udc80-\udcff]")


def numbered(lines: IO[str], name: str) -> Iterator[tuple[int, str]]:
    """(line number, line); invalid UTF-8 is a one-line error naming file and line."""
    lineno = 0
    try:
        for lineno, line in enumerate(lines, 1):
            bad = _BAD_BYTE.search(line)
            if bad:
                byte = ord(bad.group()) - 0xDC00
                raise UserError(f"{name}:{lineno}: invalid UTF-8 (byte 0x{byte:02x} at column "
                                f"{bad.start() + 1}); files must be UTF-8")
            yield lineno, line
    except UnicodeDecodeError as err:  # a stream opened with strict decoding
        raise UserError(f"{name}:{lineno + 1}: invalid UTF-8 ({err.reason}); files must be UTF-8") from None


def iter_jsonl(lines: IO[str], name: str) -> Iterator[tuple[int, dict]]:
    """Yield (line number, object) for each non-blank line."""
    for lineno, line in numbered(lines, name):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise UserError(f"{name}:{lineno}: malformed jsonl row ({err.msg})") from None
        if not isinstance(row, dict):
            raise UserError(f"{name}:{lineno}: expected a JSON object, got {type(row).__name__}")
        yield lineno, row


def jsonl_file(path: str) -> Iterator[tuple[str, dict]]:
    """Yield ("file:line", object) for each non-blank line of the jsonl file at `path`
    (a missing file is a UserError)."""
    if not Path(path).is_file():
        raise UserError(f"missing file {path}")
    with open(path, encoding="utf-8", errors=DECODE_ERRORS) as f:
        for lineno, row in iter_jsonl(f, path):
            yield f"{path}:{lineno}", row


def iter_tsv(lines: IO[str], name: str, required: Sequence[str]) -> Iterator[tuple[int, dict]]:
    """Yield (line number, {column: value}) for each row of a headed tsv file.

    Quotes are data, not syntax (XNLI sentences contain unbalanced quotes)."""
    reader = csv.reader((line for _, line in numbered(lines, name)), delimiter="\t",
                        quoting=csv.QUOTE_NONE)
    header = next(reader, None)
    if header is None:
        raise UserError(f"{name}:1: empty file, expected a header with {', '.join(required)}")
    missing = [c for c in required if c not in header]
    if missing:
        raise UserError(f"{name}:1: header lacks column {missing[0]!r} (has: {', '.join(header)})")
    for fields in reader:
        lineno = reader.line_num
        if not fields:
            continue
        if len(fields) != len(header):
            raise UserError(f"{name}:{lineno}: malformed tsv row: {len(fields)} fields, "
                            f"header has {len(header)}")
        yield lineno, dict(zip(header, fields))
