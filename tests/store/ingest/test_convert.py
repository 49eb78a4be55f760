"""Conversion of OTLP requests into staged Arrow columns: what lands, what is rejected."""

from __future__ import annotations

import pytest

from parallax import conventions as conv
from store.ingest import convert
from store.ingest.ledger import BatchId
from tests.otlp import export_request, inference_span


def convert_one(request, node_id=None, batch_seq=None) -> convert.Converted:
    parsed = convert.parse(request.SerializeToString())
    batch_id = BatchId(node_id, "", batch_seq) if node_id is not None else None
    return convert.convert([convert.Incoming(parsed, batch_id, node_id)])


def rows(converted: convert.Converted) -> list[dict]:
    return converted.table.to_pylist()


def test_inference_attributes_become_typed_columns():
    span = inference_span(
        attrs={conv.OUTPUT_SCORE: 0.875, conv.COLD_START: True, conv.OUTPUT_TOPK: ["a", "b"]}
    )
    [row] = rows(convert_one(export_request([span])))
    assert row["feature"] == "fraud-scoring"
    assert row["model_name"] == "fraud-gbm"
    assert row["model_version"] == "2.3"
    assert row["quantization"] == "int8"
    assert row["output_score"] == 0.875
    assert row["cold_start"] is True
    assert row["output_topk"] == ["a", "b"]
    assert row["duration_ms"] == 12.5
    assert row["trace_id"] == span.trace_id
    assert row["node_id"] == "node-a"


def test_attributes_that_are_not_promoted_stay_in_the_map_as_text():
    span = inference_span(
        attrs={"app.count": 7, "app.ratio": 0.25, "app.ok": True, "app.tags": ["x", 1]}
    )
    [row] = rows(convert_one(export_request([span])))
    extra = dict(row["attributes"])
    assert extra == {
        "app.count": "7",
        "app.ratio": "0.25",
        "app.ok": "true",
        "app.tags": '["x", 1]',
    }


def test_span_attribute_wins_over_resource_attribute_and_resource_fills_gaps():
    with_tier = inference_span(attrs={conv.HARDWARE_TIER: "cloud"})
    without_tier = inference_span()
    request = export_request(
        [with_tier, without_tier],
        resource={conv.HOST_ID: "node-b", conv.HARDWARE_TIER: "device", conv.SERVICE_NAME: "app"},
    )
    converted = convert_one(request)
    first, second = rows(converted)
    assert (first["hardware_tier"], second["hardware_tier"]) == ("cloud", "device")
    assert first["service_name"] == second["service_name"] == "app"
    assert first["resource_id"] == second["resource_id"]
    assert dict(converted.resources[first["resource_id"]])[conv.HARDWARE_TIER] == "device"


def test_the_resource_id_is_the_same_for_the_same_attributes_in_any_order():
    one = export_request([inference_span()], resource={conv.HOST_ID: "a", conv.SERVICE_NAME: "s"})
    other = export_request([inference_span()], resource={conv.SERVICE_NAME: "s", conv.HOST_ID: "a"})
    third = export_request([inference_span()], resource={conv.HOST_ID: "b", conv.SERVICE_NAME: "s"})
    ids = [rows(convert_one(r))[0]["resource_id"] for r in (one, other, third)]
    assert ids[0] == ids[1] != ids[2]


def test_batch_node_id_replaces_host_id_and_sequence_is_recorded():
    [row] = rows(convert_one(export_request([inference_span()]), node_id="edge-7", batch_seq=42))
    assert (row["node_id"], row["batch_seq"]) == ("edge-7", 42)


def test_integer_score_is_accepted_as_a_double():
    [row] = rows(convert_one(export_request([inference_span(attrs={conv.OUTPUT_SCORE: 1})])))
    assert row["output_score"] == 1.0


def test_long_strings_and_long_keys_survive_the_slow_path():
    long_value = "x" * 5000
    long_key = "app." + "k" * 300
    span = inference_span(attrs={conv.INPUT_FINGERPRINT: long_value, long_key: long_value})
    [row] = rows(convert_one(export_request([span])))
    assert row["input_fingerprint"] == long_value
    assert dict(row["attributes"])[long_key] == long_value


def test_wrong_attribute_type_rejects_only_that_span():
    good = inference_span()
    bad = inference_span(attrs={conv.OUTPUT_SCORE: "high"})
    converted = convert_one(export_request([good, bad, inference_span()]))
    [outcome] = converted.outcomes
    assert (outcome.accepted, outcome.rejected) == (2, 1)
    assert "parallax.output.score" in outcome.error_message()
    assert bad.span_id.hex() in outcome.error_message()
    assert good.span_id in [r["span_id"] for r in rows(converted)]


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("trace_id", b"\x00" * 16, "trace_id"),
        ("trace_id", b"\x01" * 8, "trace_id"),
        ("span_id", b"", "span_id"),
        ("start_time_unix_nano", 0, "start_time"),
        ("name", "", "name"),
    ],
)
def test_spans_missing_required_fields_are_rejected_with_a_reason(field, value, reason):
    converted = convert_one(export_request([inference_span(**{field: value}), inference_span()]))
    [outcome] = converted.outcomes
    assert (outcome.accepted, outcome.rejected) == (1, 1)
    assert reason in outcome.error_message()


def test_end_before_start_is_rejected():
    span = inference_span()
    span.end_time_unix_nano = span.start_time_unix_nano - 1
    [outcome] = convert_one(export_request([span])).outcomes
    assert outcome.rejected == 1
    assert "before" in outcome.error_message()


def test_wrong_type_on_the_resource_rejects_the_spans_that_would_use_it():
    request = export_request([inference_span()], resource={conv.HARDWARE_TIER: 3})
    request.resource_spans[0].scope_spans[0].spans[0].attributes.pop()  # keep it simple
    [outcome] = convert_one(request).outcomes
    assert outcome.rejected == 1
    assert "resource" in outcome.error_message()


def test_bytes_that_are_not_protobuf_are_an_invalid_request():
    with pytest.raises(convert.InvalidRequest):
        convert.parse(b"\x0a\xff\xff\xff\xff\x0f garbage")


def test_events_and_links_are_kept():
    span = inference_span()
    event = span.events.add(time_unix_nano=span.start_time_unix_nano + 5, name="retry")
    event.attributes.add(key="attempt").value.int_value = 2
    link = span.links.add(trace_id=b"\x02" * 16, span_id=b"\x03" * 8)
    link.attributes.add(key="why").value.string_value = "shadow"
    [row] = rows(convert_one(export_request([span])))
    [stored_event] = row["events"]
    assert stored_event["name"] == "retry"
    assert dict(stored_event["attributes"]) == {"attempt": "2"}
    [stored_link] = row["links"]
    assert stored_link["trace_id"] == "02" * 16
    assert dict(stored_link["attributes"]) == {"why": "shadow"}


def test_status_is_kept():
    span = inference_span()
    span.status.code = 2
    span.status.message = "model crashed"
    [row] = rows(convert_one(export_request([span])))
    assert (row["status_code"], row["status_message"]) == ("error", "model crashed")


def test_many_requests_convert_together_and_keep_their_own_outcomes():
    requests = [
        export_request([inference_span(), inference_span()]),
        export_request([inference_span(attrs={conv.COLD_START: "yes"})]),
        export_request([inference_span()], resource={conv.HOST_ID: "node-z"}),
    ]
    incoming = [
        convert.Incoming(convert.parse(r.SerializeToString()), BatchId("edge-7", "b", i), "edge-7")
        for i, r in enumerate(requests)
    ]
    converted = convert.convert(incoming)
    assert [(o.accepted, o.rejected) for o in converted.outcomes] == [(2, 0), (0, 1), (1, 0)]
    assert list(converted.request_of_row) == [0, 0, 2]
    assert [r["node_id"] for r in rows(converted)] == ["edge-7", "edge-7", "edge-7"]
    assert [r["batch_seq"] for r in rows(converted)] == [0, 0, 2]


def test_an_empty_any_value_reads_as_null():
    span = inference_span(attrs={conv.OUTPUT_LABEL: None})
    span.attributes.add(key=conv.OUTPUT_LABEL)  # key present, value unset
    [row] = rows(convert_one(export_request([span])))
    assert row["output_label"] is None


def test_conversions_concatenate_as_if_converted_together():
    requests = [
        export_request([inference_span(), inference_span(attrs={conv.COLD_START: 1})]),
        export_request([inference_span()], resource={conv.HOST_ID: "node-q"}),
        export_request([inference_span(), inference_span()]),
    ]
    incoming = [convert.Incoming(convert.parse(r.SerializeToString())) for r in requests]
    together = convert.convert(incoming)
    pieces = convert.concat([convert.convert(incoming[:1]), convert.convert(incoming[1:])])
    assert pieces.table.equals(together.table)
    assert list(pieces.request_of_row) == list(together.request_of_row) == [0, 1, 2, 2]
    assert [(o.accepted, o.rejected) for o in pieces.outcomes] == [(1, 1), (1, 0), (2, 0)]
    assert pieces.resources == together.resources
