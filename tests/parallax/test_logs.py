"""Log output: text by default; with log.format = "json", one valid JSON object a line,
whatever the message holds."""

from __future__ import annotations

import io
import json
import logging
from datetime import UTC, datetime

import pytest

from parallax.config import load_settings
from parallax.errors import ConfigError
from parallax.logs import JsonFormatter, configure_logging


@pytest.fixture
def json_lines():
    """Configure the process's logging as JSON into a buffer; give back its parsed lines."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging("json", "debug", stream)

    def lines() -> list[dict]:
        text = stream.getvalue()
        assert text.endswith("\n") and text.isascii()
        return [json.loads(line) for line in text.splitlines()]

    yield lines
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    logging.captureWarnings(False)


def test_text_is_the_default_and_json_is_chosen_by_key_or_environment():
    assert load_settings(env={}).log.format == "text"
    assert load_settings(env={}).log.level == "info"
    settings = load_settings(env={"PARALLAX_LOG_FORMAT": "json", "PARALLAX_LOG_LEVEL": "debug"})
    assert (settings.log.format, settings.log.level) == ("json", "debug")
    with pytest.raises(ConfigError, match=r"PARALLAX_LOG_FORMAT.*must be one of text, json"):
        load_settings(env={"PARALLAX_LOG_FORMAT": "yaml"})


def test_a_record_is_one_object_with_time_level_logger_message_and_its_fields(json_lines):
    logging.getLogger("parallax.collector").info(
        "shipped %d spans", 3, extra={"node_id": "edge-7", "batches": [1, 2], "ratio": 0.5}
    )
    (line,) = json_lines()
    assert line["level"] == "INFO" and line["logger"] == "parallax.collector"
    assert line["message"] == "shipped 3 spans"
    assert (line["node_id"], line["batches"], line["ratio"]) == ("edge-7", [1, 2], 0.5)
    assert line["time"].endswith("Z")
    written = datetime.fromisoformat(line["time"])
    assert written.tzinfo is not None and written.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - written).total_seconds()) < 3600


def test_an_exception_travels_as_text_inside_the_one_line(json_lines):
    try:
        raise ValueError("the lake is\nread-only")
    except ValueError:
        logging.getLogger("parallax.server").exception("commit failed")
    (line,) = json_lines()
    assert line["level"] == "ERROR" and line["message"] == "commit failed"
    assert (
        "Traceback" in line["exception"]
        and "ValueError: the lake is\nread-only" in (line["exception"])
    )


def test_hostile_messages_still_give_exactly_one_valid_line_each(json_lines):
    log = logging.getLogger("parallax.hostile")
    hostile = "a\nb\r\nc\x00d\x1b[31me\u2028f\x7fg"
    log.warning(hostile)
    log.warning("node %s", "edge-\udcff-\ud800")  # undecodable bytes, a lone surrogate
    log.warning("fields", extra={"level": "forged", "nan": float("nan"), "obj": Unprintable()})
    log.warning("deep", extra={"tree": {"a": {"b": {"c": {"d": {"e": "f"}}}}}})
    first, surrogates, fields, deep = json_lines()
    assert first["message"] == hostile
    assert surrogates["message"] == "node edge-\ufffd-\ufffd"
    assert fields["level"] == "WARNING" and fields["field.level"] == "forged"
    assert fields["nan"] == "nan" and "cannot be shown" in fields["obj"]
    assert isinstance(deep["tree"]["a"]["b"]["c"], dict | str)


def test_arguments_that_do_not_fit_the_format_still_give_the_line():
    # Formatted directly: pytest's own log capture would fail the test on this record.
    record = logging.LogRecord("parallax.x", logging.WARNING, "f.py", 1, "%d spans", ("x",), None)
    line = json.loads(JsonFormatter().format(record))
    assert "%d spans" in line["message"] and "did not format" in line["message"]


def test_python_warnings_are_records_too(json_lines):
    import warnings

    warnings.warn("a deprecated setting", UserWarning, stacklevel=1)
    (line,) = json_lines()
    assert line["logger"] == "py.warnings" and "a deprecated setting" in line["message"]


def test_the_level_filters_what_is_written():
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("text", "warning", stream)
        logging.getLogger("parallax.x").info("hidden")
        logging.getLogger("parallax.x").warning("shown")
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.captureWarnings(False)
    assert "shown" in stream.getvalue() and "hidden" not in stream.getvalue()
    assert " WARNING parallax.x: shown" in stream.getvalue()


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no")
