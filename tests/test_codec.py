"""The JSON codec of the hot paths: orjson's speed, Python's json for what orjson refuses, one line per item."""

import json
from datetime import datetime, timezone

import pytest

from backups import archive, codec

pytestmark = pytest.mark.backend_neutral


def test_items_are_compact_utf8_in_their_key_order():
    assert codec.dumps({"title": "Amélie", "ids": {"trakt": 1}, "a": None}) == \
        '{"title":"Amélie","ids":{"trakt":1},"a":null}'.encode()


@pytest.mark.parametrize("text, value", [
    (b"[NaN]", None),                                   # not strict JSON, but what Python's json reads
    (b"123456789012345678901234567890", 123456789012345678901234567890),  # wider than 64 bits
    (b'"\\ud800"', "\ud800"),                           # a lone surrogate escape
])
def test_what_orjson_refuses_python_reads(text, value):
    parsed = codec.loads(text)
    assert parsed == value or (value is None and parsed[0] != parsed[0])  # NaN is not equal to itself


@pytest.mark.parametrize("value", [123456789012345678901234567890, {"title": "broken \ud800 half"}])
def test_what_orjson_cannot_write_is_written_as_valid_utf8_json(value):
    text = codec.dumps(value)
    assert json.loads(text.decode("utf-8")) == value


@pytest.mark.parametrize("text", [b"{broken", b"", b"[1,]"])
def test_damaged_text_raises_a_value_error(text):
    with pytest.raises(ValueError):
        codec.loads(text)


def test_nesting_past_any_limit_raises_recursion_error():
    with pytest.raises(RecursionError):
        codec.loads(b"[" * 100_000)


def test_a_file_the_compressor_cannot_add_fails_the_archive_at_finish(tmp_path):
    writer = archive.ArchiveWriter(tmp_path, "backup-x-20260101T000000Z", datetime(2026, 1, 1, tzinfo=timezone.utc))
    out = writer.open_array("sync/history")
    out.extend([{"id": 1}])
    sha = out.close()
    out.path.unlink()  # gone before the compressor reaches it
    writer.record("sync/history", endpoint="/sync/history", params={}, items=1, sha256=sha)
    with pytest.raises(FileNotFoundError):
        writer.finish(username="x", app_version="test", requests=1)
    writer.abort()
    assert sorted(path.name for path in tmp_path.iterdir()) == []
