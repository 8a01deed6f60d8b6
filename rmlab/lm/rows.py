"""Resumable JSONL rows: a long measurement writes its rows as it goes and picks up where it stopped when rerun.

File layout: the first line is a header ``{"rmlab_rows": 1, "fingerprint": SHA, "arguments": {...}}`` naming the
arguments that produced the rows; every further line is one JSON row with a ``kind`` (e.g. ``"prompt"``) and an
integer ``index``. Rules:

* a rerun with the same arguments keeps every complete row and computes only the missing ``(kind, index)`` keys, so
  rows are never duplicated or lost;
* a last line without its newline (the process was killed mid-write) is discarded, and the file is rewritten
  (atomically) without it before new rows are appended;
* a file written with different arguments is refused, naming the arguments that differ (rows from two different
  measurements are never mixed) -- unless it holds only its header (a run that stopped before its first row, e.g.
  on an error): nothing is lost by starting it over;
* rows are flushed and fsynced after every ``append``, so a kill loses at most the rows being written.

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "rows.jsonl"
>>> store = ResumableRows(path, {"k": 4})
>>> store.load()
{}
>>> store.append([{"kind": "prompt", "index": 0, "value": 1.5}])
>>> ResumableRows(path, {"k": 4}).load()
{('prompt', 0): {'kind': 'prompt', 'index': 0, 'value': 1.5}}
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from rmlab._io import atomic_write_text, to_jsonable
from rmlab.errors import UserError

FORMAT_VERSION = 1


def fingerprint(arguments: dict) -> str:
    """SHA-256 of the canonical JSON of ``arguments`` (sorted keys)."""
    text = json.dumps(to_jsonable(arguments), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class ResumableRows:
    """Rows keyed by ``(row["kind"], row["index"])`` in a JSONL file tied to the arguments that produced them."""

    def __init__(self, path, arguments: dict):
        self.path = Path(path)
        self.arguments = to_jsonable(arguments)
        self.fingerprint = fingerprint(self.arguments)

    def _header(self) -> str:
        return json.dumps({"rmlab_rows": FORMAT_VERSION, "fingerprint": self.fingerprint,
                           "arguments": self.arguments}, sort_keys=True) + "\n"

    def load(self) -> dict[tuple[str, int], dict]:
        """Read the rows written so far (creating the file with its header if it is missing or empty), dropping an
        incomplete last line from the file before new rows are appended."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            atomic_write_text(self.path, self._header())
            return {}
        rows, complete, partial = self._parse()
        if rows is None:
            atomic_write_text(self.path, self._header())  # killed while writing the header, or no row yet: no loss
            return {}
        if partial:  # an interrupted write: drop the incomplete tail before appending
            atomic_write_text(self.path, complete.decode("utf-8") + "\n")
        return rows

    def read(self) -> dict[tuple[str, int], dict]:
        """The complete rows of the file, without changing it (another process may own it); {} if there is none."""
        if not self.path.exists() or self.path.stat().st_size == 0:
            return {}
        return self._parse()[0] or {}

    def _parse(self) -> tuple[dict | None, bytes, bytes]:
        """``(rows or None when the file holds no row yet, complete lines, incomplete tail)``."""
        data = self.path.read_bytes()
        complete, _, partial = data.rpartition(b"\n")
        lines = complete.decode("utf-8").split("\n") if complete else []
        if not lines or (len(lines) == 1 and not partial and self._is_rows_header(lines[0])):
            return None, complete, partial
        self._check_header(lines[0])
        rows: dict[tuple[str, int], dict] = {}
        for line_no, line in enumerate(lines[1:], start=2):
            try:
                row = json.loads(line)
                key = (row["kind"], int(row["index"]))
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                raise UserError(f"{self.path}: line {line_no} is not a valid row; the file is corrupted "
                                 "(delete it to start over)") from None
            if key in rows:
                raise UserError(f"{self.path}: line {line_no} repeats row {key}; the file was edited or "
                                 "concatenated (delete it to start over)")
            rows[key] = row
        return rows, complete, partial

    @staticmethod
    def _is_rows_header(line: str) -> bool:
        try:
            header = json.loads(line)
        except json.JSONDecodeError:
            return False
        return isinstance(header, dict) and "rmlab_rows" in header

    def _check_header(self, line: str) -> None:
        try:
            header = json.loads(line)
            theirs, their_arguments = header["fingerprint"], header["arguments"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise UserError(f"{self.path} exists but is not an rmlab rows file (no header line); "
                             "choose another path or delete it") from None
        if theirs != self.fingerprint:
            keys = sorted(set(their_arguments) | set(self.arguments))
            differ = [k for k in keys if their_arguments.get(k) != self.arguments.get(k)]
            raise UserError(f"{self.path} holds rows computed with different arguments (differing: "
                             f"{', '.join(differ) or 'format'}); refusing to mix them. Rerun with the same "
                             "arguments to resume, or delete the file / choose another path to start over.")

    def append(self, rows: list[dict]) -> None:
        """Append complete rows, one JSON line each, then flush to disk."""
        if not rows:
            return
        text = "".join(json.dumps(to_jsonable(row), allow_nan=False) + "\n" for row in rows)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
