"""Decode OTLP AnyValue encodings (raw bytes) into Python values.

The lean request schema hands attribute values over as the raw bytes of an AnyValue.
The common shapes (a short string, a double, a bool) are decoded straight from the
bytes; anything else goes through the standard OTLP message, so every valid encoding
decodes and nothing is guessed.
"""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

_DOUBLE = struct.Struct("<d")
_STRING_TAG = 0x0A
_DOUBLE_TAG = 0x21
_BOOL_TRUE = b"\x10\x01"
_BOOL_FALSE = b"\x10\x00"


class Unset:
    """An AnyValue with no value set (OTLP allows it; it reads as NULL)."""


UNSET = Unset()


def decode(raw: bytes) -> Any:
    """The Python value of an encoded AnyValue: str, bool, int, float, bytes, list or dict.

    Raises UnicodeDecodeError for a string that is not UTF-8 and
    google.protobuf.message.DecodeError for bytes that are not an AnyValue.
    """
    if len(raw) > 1 and raw[0] == _STRING_TAG and raw[1] < 0x80 and len(raw) == raw[1] + 2:
        return raw[2:].decode("utf-8")
    if len(raw) == 9 and raw[0] == _DOUBLE_TAG:
        return _DOUBLE.unpack_from(raw, 1)[0]
    if raw == _BOOL_TRUE:
        return True
    if raw == _BOOL_FALSE:
        return False
    return from_message(AnyValue.FromString(raw))


def from_message(value: AnyValue) -> Any:
    """The Python value of a parsed AnyValue."""
    kind = value.WhichOneof("value")
    if kind is None:
        return UNSET
    if kind == "array_value":
        return [from_message(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: from_message(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def as_text(value: Any) -> str | None:
    """How a value is kept in a MAP(VARCHAR, VARCHAR) column of attributes.

    Strings as they are; bools as true/false; numbers in their shortest exact form;
    arrays and key-value lists as JSON; bytes as base64.
    """
    if isinstance(value, str):
        return value
    if value is UNSET:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if value is UNSET:
        return None
    raise TypeError(f"cannot encode {type(value).__name__}")
