"""Every hostile input is decided per span (docs/wire-contract.md), beside a healthy sibling
span in the same request that must be stored unchanged."""

from __future__ import annotations

import dataclasses

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from parallax import conventions as conv
from store.ingest import convert
from store.ingest.otlp_lean_pb2 import ExportTraceServiceRequestRaw
from tests.otlp import attributes, export_request, inference_span


def varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def key_value(key: bytes, any_value: bytes) -> bytes:
    return field(1, key) + field(2, any_value)


def string_value(text: bytes) -> bytes:
    return field(1, text)


def nested_array(depth: int) -> bytes:
    """An AnyValue: a string inside ``depth`` levels of arrays."""
    value = string_value(b"x")
    for _ in range(depth):
        value = field(5, field(1, value))  # AnyValue.array_value { values: [value] }
    return value


def with_raw_attribute(span: Span, raw_key_value: bytes) -> bytes:
    return span.SerializeToString() + field(9, raw_key_value)


def request_of(span_encodings: list[bytes], healthy: Span | None = None) -> bytes:
    """A request with the given raw spans and one healthy span, all under one scope."""
    request = ExportTraceServiceRequestRaw.FromString(
        export_request([healthy or inference_span()]).SerializeToString()
    )
    request.resource_spans[0].scope_spans[0].spans.extend(span_encodings)
    return request.SerializeToString()


def convert_bytes(data: bytes, limits=convert.DEFAULT_LIMITS) -> convert.Converted:
    return convert.convert([convert.Incoming(convert.parse(data))], limits)


def healthy_row(converted: convert.Converted, healthy: Span) -> dict:
    [row] = [r for r in converted.table.to_pylist() if r["span_id"] == healthy.span_id]
    return row


@pytest.mark.parametrize(
    ("hostile", "reason"),
    [
        (with_raw_attribute(inference_span(), key_value(b"k\xff", string_value(b"v"))), "key"),
        (
            with_raw_attribute(inference_span(), key_value(b"app.note", string_value(b"v\xff"))),
            "'app.note' is not valid UTF-8",
        ),
        (
            with_raw_attribute(
                inference_span(), key_value(conv.FEATURE.encode(), string_value(b"\xc3"))
            ),
            "is not valid UTF-8",
        ),
        (inference_span().SerializeToString() + field(5, b"na\xffme"), "not valid OTLP"),
        (inference_span().SerializeToString() + field(3, b"st\xff"), "not valid OTLP"),
        (
            inference_span().SerializeToString() + field(15, field(2, b"oops\xfe")),
            "status",
        ),
        (
            inference_span().SerializeToString() + field(11, field(2, b"ev\xff")),
            "event",
        ),
        (with_raw_attribute(inference_span(), key_value(b"deep", nested_array(60))), "nested"),
        (inference_span().SerializeToString()[:-3], "not valid OTLP"),
    ],
    ids=[
        "key-not-utf8",
        "value-not-utf8",
        "promoted-value-not-utf8",
        "name-not-utf8",
        "trace-state-not-utf8",
        "status-message-not-utf8",
        "event-name-not-utf8",
        "nesting-past-protobufs-limit",
        "cut-short",
    ],
)
def test_a_hostile_span_is_rejected_alone_and_its_sibling_is_stored(hostile, reason):
    healthy = inference_span()
    converted = convert_bytes(request_of([hostile], healthy))
    [outcome] = converted.outcomes
    assert (outcome.accepted, outcome.rejected) == (1, 1)
    assert reason in outcome.error_message()
    assert healthy_row(converted, healthy)["feature"] == "fraud-scoring"


@pytest.mark.parametrize("when", ["start_time_unix_nano", "end_time_unix_nano"])
def test_a_time_past_what_a_timestamp_holds_rejects_its_span(when):
    late = inference_span()
    setattr(late, when, 2**63 + 5)
    if when == "start_time_unix_nano":
        late.end_time_unix_nano = 2**63 + 10
    healthy = inference_span()
    converted = convert_bytes(export_request([late, healthy]).SerializeToString())
    [outcome] = converted.outcomes
    assert (outcome.accepted, outcome.rejected) == (1, 1)
    assert "2262" in outcome.error_message()
    assert converted.table.column("start_time")[0].as_py().year == 2026


def test_an_event_time_past_what_a_timestamp_holds_rejects_its_span():
    late = inference_span()
    late.events.add(time_unix_nano=2**64 - 1, name="e")
    [outcome] = convert_bytes(export_request([late, inference_span()]).SerializeToString()).outcomes
    assert (outcome.accepted, outcome.rejected) == (1, 1)


def test_a_repeated_key_keeps_its_last_value_and_is_counted():
    span = inference_span()
    span.attributes.extend(attributes({"dup": "a", "other": "o"}))
    span.attributes.extend(attributes({"dup": "b", conv.MODEL_VERSION: "9.9"}))
    converted = convert_bytes(export_request([span]).SerializeToString())
    [row] = converted.table.to_pylist()
    assert dict(row["attributes"]) == {"dup": "b", "other": "o"}
    assert row["model_version"] == "9.9"  # the promoted key too: its last value
    [outcome] = converted.outcomes
    assert (outcome.accepted, outcome.rejected, outcome.repeated_keys) == (1, 0, 2)
    assert "2 repeated attribute key(s) kept their last value" in outcome.error_message()


def test_repeated_keys_in_resources_events_and_links_keep_their_last_value():
    span = inference_span()
    event = span.events.add(time_unix_nano=span.start_time_unix_nano, name="e")
    event.attributes.extend(attributes({"k": "1"}) + attributes({"k": "2"}))
    request = export_request([span], resource={conv.HOST_ID: "n1"})
    request.resource_spans[0].resource.attributes.extend(attributes({conv.HOST_ID: "n2"}))
    converted = convert_bytes(request.SerializeToString())
    [row] = converted.table.to_pylist()
    assert row["node_id"] == "n2"
    assert dict(row["events"][0]["attributes"]) == {"k": "2"}
    [resource] = converted.resources.values()
    assert resource == [(conv.HOST_ID, "n2")]


def test_attributes_past_the_limit_are_dropped_but_the_convention_keys_are_kept():
    span = Span()
    span.CopyFrom(inference_span())
    promoted = list(span.attributes)
    del span.attributes[:]
    span.attributes.extend(attributes({f"app.k{i}": i for i in range(100_000)}))
    span.attributes.extend(promoted)  # sent last, kept all the same
    limits = dataclasses.replace(convert.DEFAULT_LIMITS, max_attributes=128)
    converted = convert_bytes(export_request([span]).SerializeToString(), limits)
    [row] = converted.table.to_pylist()
    assert [key for key, _ in row["attributes"]] == [f"app.k{i}" for i in range(128)]
    assert row["feature"] == "fraud-scoring"
    [outcome] = converted.outcomes
    assert outcome.attributes_dropped == 100_000 - 128
    assert "attribute(s) past the per-span limit dropped" in outcome.error_message()


def test_a_long_value_is_cut_at_a_character_boundary_and_counted():
    span = inference_span(attrs={"app.note": "é" * 10 + "x", conv.OUTPUT_DIGEST: "d" * 20})
    limits = dataclasses.replace(convert.DEFAULT_LIMITS, max_value_bytes=15)
    converted = convert_bytes(export_request([span]).SerializeToString(), limits)
    [row] = converted.table.to_pylist()
    assert dict(row["attributes"])["app.note"] == "é" * 7  # 14 bytes: an 8th would need 16
    assert row["output_digest"] == "d" * 15
    assert converted.outcomes[0].values_truncated == 2


def test_nesting_within_protobufs_limit_is_kept_as_json_text():
    span = with_raw_attribute(inference_span(), key_value(b"deep", nested_array(20)))
    converted = convert_bytes(request_of([span]))
    assert converted.outcomes[0].rejected == 0
    texts = [dict(r["attributes"]).get("deep") for r in converted.table.to_pylist()]
    assert "[" * 20 + '"x"' + "]" * 20 in texts


def test_a_resource_that_cannot_be_read_rejects_only_the_spans_below_it():
    good = export_request([inference_span()], resource={conv.HOST_ID: "good"})
    bad = ExportTraceServiceRequest()
    bad.CopyFrom(export_request([inference_span(), inference_span()]))
    raw = ExportTraceServiceRequestRaw.FromString(good.SerializeToString())
    broken = ExportTraceServiceRequestRaw.FromString(bad.SerializeToString())
    broken.resource_spans[0].resource.attributes.append(key_value(b"k", string_value(b"\xff")))
    raw.resource_spans.extend(broken.resource_spans)
    converted = convert_bytes(raw.SerializeToString())
    [outcome] = converted.outcomes
    assert (outcome.accepted, outcome.rejected) == (1, 2)
    assert "resource attribute" in outcome.error_message()
    assert converted.table.column("node_id").to_pylist() == ["good"]


def test_a_scope_name_that_is_not_utf8_rejects_only_the_spans_of_that_scope():
    raw = ExportTraceServiceRequestRaw.FromString(
        export_request([inference_span()]).SerializeToString()
    )
    scope = raw.resource_spans[0].scope_spans.add()
    scope.scope.name = b"lib\xff"
    scope.spans.append(inference_span().SerializeToString())
    [outcome] = convert_bytes(raw.SerializeToString()).outcomes
    assert (outcome.accepted, outcome.rejected) == (1, 1)
    assert "scope" in outcome.error_message()


def test_a_status_is_still_read_as_before():
    span = inference_span()
    span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message="boom"))
    [row] = convert_bytes(export_request([span]).SerializeToString()).table.to_pylist()
    assert (row["status_code"], row["status_message"]) == ("error", "boom")


@pytest.mark.parametrize(
    ("any_value", "text"),
    [
        (b"\x18\x01\x18\x02", "2"),  # an int twice: the last one wins
        (b"\x18\x01\x10\x01", "true"),  # an int, then a bool: the bool wins
        (b"\x10\x02", "true"),  # a bool written as 2
        (b"\x18\x96\x01", "150"),
    ],
)
def test_unusual_but_valid_values_read_as_protobuf_reads_them(any_value, text):
    span = with_raw_attribute(inference_span(), key_value(b"app.x", any_value))
    converted = convert_bytes(request_of([span]))
    assert [dict(r["attributes"]).get("app.x") for r in converted.table.to_pylist()][1] == text


def test_a_cut_off_varint_rejects_its_span():
    span = with_raw_attribute(inference_span(), key_value(b"app.x", b"\x18\x80"))
    [outcome] = convert_bytes(request_of([span])).outcomes
    assert (outcome.accepted, outcome.rejected) == (1, 1)


def test_a_score_sent_twice_keeps_the_last():
    raw = with_raw_attribute(
        inference_span(), key_value(conv.OUTPUT_SCORE.encode(), b"\x18\x01\x18\x02")
    )
    converted = convert_bytes(request_of([raw]))
    assert converted.table.column("output_score").to_pylist()[1] == 2.0
