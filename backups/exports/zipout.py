"""A ZIP written as it is read: the writer adds files, the reader drains what is ready, a chunk at a time.

Python's zipfile writes to a stream it cannot seek (sizes go in a data descriptor after each file), so an export
is never held whole in memory or on disk: the web view streams the chunks, the command writes them to a file.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from backups import codec

FORMULA_FIRST = frozenset("=+-@\t\r")  # first characters a spreadsheet may read as a formula (OWASP's list)
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same archive gives the same bytes


class _Sink:
    """Write-only, unseekable: what zipfile writes lands here until the reader takes it."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.size = 0

    def write(self, data) -> int:
        self.chunks.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.chunks, self.size = b"".join(self.chunks), [], 0
        return data


def cell(value: Any, *, spreadsheet_safe: bool = True) -> Any:
    """One CSV cell: empty for nothing, true/false, numbers as they are, compact JSON for nested values; text that
    a spreadsheet would run as a formula gets a leading apostrophe. (The hot path of the CSV export: by type.)"""
    kind = type(value)
    if kind is str:
        return "'" + value if spreadsheet_safe and value[:1] in FORMULA_FIRST else value
    if kind is int or kind is float:
        return value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is dict or kind is list:
        return codec.dumps(value).decode()
    return cell(str(value), spreadsheet_safe=spreadsheet_safe)


class Sheet:
    """One CSV file of the ZIP being written; counts its rows."""

    def __init__(self, writer, *, spreadsheet_safe: bool):
        self._writer = writer
        self._safe = spreadsheet_safe
        self.rows = 0

    def row(self, values) -> None:
        self._writer.writerow([cell(value, spreadsheet_safe=self._safe) for value in values])
        self.rows += 1


class ZipOut:
    """The ZIP being written. ``rows`` holds each CSV's row count (header not counted) once it is closed."""

    def __init__(self):
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(self._sink, "w", compression=zipfile.ZIP_DEFLATED)
        self.rows: dict[str, int] = {}

    @property
    def ready(self) -> int:
        """Bytes written and not taken yet."""
        return self._sink.size

    def take(self) -> bytes:
        return self._sink.take()

    def _info(self, name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, ZIP_TIME)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        return info

    @contextmanager
    def csv(self, name: str, header: list[str], *, spreadsheet_safe: bool = True) -> Iterator[Sheet]:
        """A CSV file (UTF-8, a header row, CRLF line ends as RFC 4180 has them) to write rows into."""
        with self._zip.open(self._info(name), "w", force_zip64=True) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)
            writer = csv.writer(text)
            writer.writerow(header)
            sheet = Sheet(writer, spreadsheet_safe=spreadsheet_safe)
            yield sheet
            text.flush()
            text.detach()
        self.rows[name] = sheet.rows

    def json(self, name: str, value: Any) -> None:
        """A JSON file, as trakt's export writes them (compact, UTF-8)."""
        self._zip.writestr(self._info(name), codec.dumps(value))

    def close(self) -> None:
        self._zip.close()
