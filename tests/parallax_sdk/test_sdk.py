"""parallax_sdk against the real OpenTelemetry SDK: attributes, fingerprints, errors."""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, Tracer

import parallax_sdk as sdk
from parallax import conventions as conv
from parallax.conventions import HardwareTier, Quantization
from parallax.ratelimit import RateLimitedLog
from parallax_sdk import (
    canonical_json,
    fingerprint,
    inference,
    normalize_quantization,
    normalize_tier,
    output_digest,
)

# The regression vector of docs/instrumenting.md: other-language SDKs test against it.
VECTOR = {
    "country": "DE",
    "amount": 129.99,
    "features": [0.1, -2.5, 1e-07, 1e16, 3, 2**64],
    "flags": (True, False, None),
    "merchant": 'Café ☕ "Zürich"\n\x1f',
    "raw": b"\x00\x01\xfe\xff",
    "scores": {"😀": 1.0, "ﬁ": -0.0},
}
VECTOR_CANONICAL = (
    '{"amount":129.99,"country":"DE",'
    '"features":[0.1,-2.5,1e-07,1e+16,3,18446744073709551616],'
    '"flags":[true,false,null],'
    '"merchant":"Café ☕ \\"Zürich\\"\\n\\u001f",'
    '"raw":"AAH+/w==",'
    '"scores":{"ﬁ":-0.0,"😀":1.0}}'
)
VECTOR_FINGERPRINT = "99d666b68597cac83cd27c6580c4ad9c"


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(exporter: InMemorySpanExporter) -> Iterator[Tracer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider.get_tracer("test")
    provider.shutdown()


@pytest.fixture(autouse=True)
def _fresh_warning_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdk, "_warnings", RateLimitedLog(sdk.logger, sdk._WARNING_INTERVAL_S))


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


def fraud_scoring(tracer: Tracer, **overrides: object):
    arguments: dict[str, object] = {
        "feature": "fraud-scoring",
        "model": "fraud-gbm",
        "version": "2.3",
        "quantization": "int8",
        "inputs": {"amount": 12.5, "country": "DE"},
    }
    arguments.update(overrides)
    return inference(tracer, **arguments)  # type: ignore[arg-type]


# --- Fingerprints --------------------------------------------------------------------


def test_the_regression_vector_has_the_documented_canonical_form_and_fingerprint():
    assert canonical_json(VECTOR) == VECTOR_CANONICAL
    assert len(VECTOR_CANONICAL.encode("utf-8")) == 208  # as the documentation says
    assert fingerprint(VECTOR) == VECTOR_FINGERPRINT
    expected = hashlib.blake2b(VECTOR_CANONICAL.encode("utf-8"), digest_size=16).hexdigest()
    assert expected == VECTOR_FINGERPRINT


def test_the_regression_vector_appears_verbatim_in_the_documentation(repo_root):
    text = (repo_root / "docs" / "instrumenting.md").read_text(encoding="utf-8")
    assert VECTOR_CANONICAL in text
    assert VECTOR_FINGERPRINT in text


def test_dict_key_order_does_not_change_the_fingerprint():
    assert fingerprint({"a": 1, "b": {"x": 1.5, "y": "z"}}) == fingerprint(
        {"b": {"y": "z", "x": 1.5}, "a": 1}
    )


def test_a_tuple_fingerprints_like_the_same_list():
    assert fingerprint((1, 2.5, "x", (True, None))) == fingerprint([1, 2.5, "x", [True, None]])


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"amount": 12.5}, {"amount": 12.6}),
        ([1, 2], [2, 1]),
        (1, 1.0),
        (1, True),
        (0, None),
        ("1", 1),
        ({"a": 1}, {"b": 1}),
        (0.1 + 0.2, 0.3),
    ],
)
def test_different_inputs_have_different_fingerprints(one, other):
    assert fingerprint(one) != fingerprint(other)


def test_the_fingerprint_is_the_same_in_other_processes_with_other_hash_seeds(repo_root):
    value = {"b": [1, 2.5, None], "a": {"y": True, "x": "é"}, "c": list(range(20))}
    code = f"from parallax_sdk import fingerprint; print(fingerprint({value!r}))"
    results = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
            cwd=repo_root,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert results == {fingerprint(value)}


def test_bytes_are_fingerprinted_as_their_base64_text():
    assert canonical_json({"raw": b"\x00\xff"}) == '{"raw":"AP8="}'
    assert canonical_json(bytearray(b"ab")) == canonical_json(memoryview(b"ab")) == '"YWI="'


def test_floats_are_written_in_shortest_round_trip_form():
    values = [1.0, 0.0001, 1.5e-05, 1e15, 1e16, -0.0, float("nan"), float("-inf")]
    assert canonical_json(values) == (
        "[1.0,0.0001,1.5e-05,1000000000000000.0,1e+16,-0.0,NaN,-Infinity]"
    )


def test_an_object_with_tolist_is_fingerprinted_as_the_list_it_returns():
    class Array:
        def tolist(self) -> list[list[float]]:
            return [[0.5, 1.0], [2.0, 3.0]]

    assert fingerprint(Array()) == fingerprint([[0.5, 1.0], [2.0, 3.0]])
    assert fingerprint({"x": Array()}) == fingerprint({"x": ((0.5, 1.0), (2.0, 3.0))})


def test_numpy_arrays_and_scalars_fingerprint_like_python_lists_and_numbers():
    numpy = pytest.importorskip("numpy")
    assert fingerprint(numpy.array([[1.5, 2.0]])) == fingerprint([[1.5, 2.0]])
    assert fingerprint({"n": numpy.int64(3), "f": numpy.float64(0.1)}) == fingerprint(
        {"n": 3, "f": 0.1}
    )
    assert fingerprint(numpy.float32(0.1)) == fingerprint(0.10000000149011612)


@pytest.mark.parametrize("value", [{1: "a"}, {("a",): 1}, {1, 2}, object(), [1, {2.0}]])
def test_values_outside_the_canonical_form_raise_type_error(value):
    with pytest.raises(TypeError, match="cannot fingerprint"):
        fingerprint(value)


def test_the_output_digest_uses_the_same_canonical_form():
    assert output_digest(["fraud", 0.93]) == fingerprint(("fraud", 0.93))
    assert output_digest({"label": "fraud"}) != output_digest({"label": "legit"})


# --- The inference span --------------------------------------------------------------


def test_the_span_is_named_after_the_feature_and_carries_the_conventions(tracer, exporter):
    inputs = {"amount": 12.5, "country": "DE"}
    with fraud_scoring(tracer, inputs=inputs, tier="near-edge", accelerator="jetson-orin"):
        pass
    span = only_span(exporter)
    assert span.name == "inference fraud-scoring"
    assert span.kind is SpanKind.INTERNAL
    assert dict(span.attributes) == {
        conv.GEN_AI_OPERATION_NAME: "predict",
        conv.GEN_AI_REQUEST_MODEL: "fraud-gbm",
        conv.FEATURE: "fraud-scoring",
        conv.MODEL_VERSION: "2.3",
        conv.MODEL_QUANTIZATION: "int8",
        conv.HARDWARE_TIER: "near-edge",
        conv.HARDWARE_ACCELERATOR: "jetson-orin",
        conv.INPUT_FINGERPRINT: fingerprint(inputs),
    }
    assert span.status.status_code is StatusCode.UNSET


def test_the_record_exposes_the_input_fingerprint_it_set(tracer, exporter):
    with fraud_scoring(tracer, inputs=[1, 2]) as record:
        assert record.fingerprint == fingerprint([1, 2])
        assert record.span.is_recording()
    assert only_span(exporter).attributes[conv.INPUT_FINGERPRINT] == fingerprint([1, 2])


def test_a_precomputed_fingerprint_is_used_as_given(tracer, exporter):
    with fraud_scoring(tracer, inputs={"ignored": True}, fingerprint="abc123"):
        pass
    assert only_span(exporter).attributes[conv.INPUT_FINGERPRINT] == "abc123"


def test_no_inputs_means_no_fingerprint_attribute(tracer, exporter):
    with fraud_scoring(tracer, inputs=None) as record:
        assert record.fingerprint is None
    assert conv.INPUT_FINGERPRINT not in only_span(exporter).attributes


def test_the_output_is_recorded_on_the_span(tracer, exporter):
    with fraud_scoring(tracer) as record:
        record.output(
            label="fraud",
            score=0.93,
            confidence=0.86,
            topk=["fraud", "chargeback", 7],
            value={"fraud": 0.93, "legit": 0.07},
        )
    attributes = only_span(exporter).attributes
    assert attributes[conv.OUTPUT_LABEL] == "fraud"
    assert attributes[conv.OUTPUT_SCORE] == 0.93
    assert attributes[conv.CONFIDENCE] == 0.86
    assert attributes[conv.OUTPUT_TOPK] == ("fraud", "chargeback", "7")
    assert attributes[conv.OUTPUT_DIGEST] == output_digest({"legit": 0.07, "fraud": 0.93})


def test_integer_scores_are_recorded_as_doubles_and_labels_as_text(tracer, exporter):
    with fraud_scoring(tracer) as record:
        record.output(label=3, score=1, confidence=0)
    attributes = only_span(exporter).attributes
    assert attributes[conv.OUTPUT_LABEL] == "3"
    assert isinstance(attributes[conv.OUTPUT_SCORE], float)
    assert isinstance(attributes[conv.CONFIDENCE], float)


def test_a_precomputed_output_digest_wins_over_the_value(tracer, exporter):
    with fraud_scoring(tracer) as record:
        record.output(value=[1, 2], digest="feedface")
    assert only_span(exporter).attributes[conv.OUTPUT_DIGEST] == "feedface"


def test_cold_start_is_recorded_when_given(tracer, exporter):
    with fraud_scoring(tracer, cold_start=True):
        pass
    with fraud_scoring(tracer, cold_start=False):
        pass
    with fraud_scoring(tracer):
        pass
    cold, warm, unknown = exporter.get_finished_spans()
    assert cold.attributes[conv.COLD_START] is True
    assert warm.attributes[conv.COLD_START] is False
    assert conv.COLD_START not in unknown.attributes


def test_an_exception_sets_status_error_records_it_and_is_re_raised(tracer, exporter):
    class ModelCrashed(RuntimeError):
        pass

    with pytest.raises(ModelCrashed, match="tensor shape"), fraud_scoring(tracer):
        raise ModelCrashed("tensor shape (3,) != (4,)")
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "ModelCrashed: tensor shape (3,) != (4,)"
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"].endswith("ModelCrashed")
    assert event.attributes["exception.message"] == "tensor shape (3,) != (4,)"


def test_an_output_recorded_before_an_exception_stays_on_the_span(tracer, exporter):
    with pytest.raises(ValueError), fraud_scoring(tracer) as record:
        record.output(label="fraud")
        raise ValueError("post-processing failed")
    span = only_span(exporter)
    assert span.attributes[conv.OUTPUT_LABEL] == "fraud"
    assert span.status.status_code is StatusCode.ERROR


def test_a_cancellation_is_not_recorded_as_an_error(tracer, exporter):
    with pytest.raises(KeyboardInterrupt), fraud_scoring(tracer):
        raise KeyboardInterrupt
    span = only_span(exporter)
    assert span.status.status_code is StatusCode.UNSET
    assert not span.events


def test_the_span_is_current_inside_the_block_so_child_spans_nest(tracer, exporter):
    with fraud_scoring(tracer), tracer.start_as_current_span("preprocess"):
        pass
    child, parent = exporter.get_finished_spans()
    assert child.parent is not None
    assert child.parent.span_id == parent.context.span_id


def test_the_span_kind_can_be_chosen(tracer, exporter):
    with fraud_scoring(tracer, kind=SpanKind.SERVER):
        pass
    assert only_span(exporter).kind is SpanKind.SERVER


def test_the_operation_name_can_be_chosen(tracer, exporter):
    with fraud_scoring(tracer, operation="embeddings"):
        pass
    assert only_span(exporter).attributes[conv.GEN_AI_OPERATION_NAME] == "embeddings"


# --- Values that must not break the app's inference -------------------------------------


@pytest.mark.parametrize(
    ("given", "recorded"),
    [
        (Quantization.BF16, "bf16"),
        ("fp16", "fp16"),
        (" INT4 ", "int4"),
        ("q4_k_m", "other"),
    ],
)
def test_quantization_accepts_the_enum_or_its_string_and_maps_unknown_to_other(
    tracer, exporter, given, recorded
):
    with fraud_scoring(tracer, quantization=given):
        pass
    assert only_span(exporter).attributes[conv.MODEL_QUANTIZATION] == recorded


def test_an_unknown_quantization_is_logged_once_per_interval(caplog):
    with caplog.at_level(logging.WARNING, logger="parallax_sdk"):
        for _ in range(5):
            assert normalize_quantization("fp8") is Quantization.OTHER
    [message] = caplog.messages
    assert "unknown quantization 'fp8'" in message
    assert "int8" in message


@pytest.mark.parametrize(
    ("given", "recorded"),
    [(HardwareTier.CLOUD, HardwareTier.CLOUD), ("NEAR_EDGE", HardwareTier.NEAR_EDGE)],
)
def test_the_tier_accepts_the_enum_or_its_string(given, recorded):
    assert normalize_tier(given) is recorded


def test_an_unknown_tier_is_left_off_the_span_so_the_node_tier_applies(tracer, exporter, caplog):
    with (
        caplog.at_level(logging.WARNING, logger="parallax_sdk"),
        fraud_scoring(tracer, tier="mainframe"),
    ):
        pass
    assert conv.HARDWARE_TIER not in only_span(exporter).attributes
    assert "unknown hardware tier 'mainframe'" in caplog.text


def test_an_input_that_cannot_be_fingerprinted_is_logged_not_raised(tracer, exporter, caplog):
    with (
        caplog.at_level(logging.WARNING, logger="parallax_sdk"),
        fraud_scoring(tracer, inputs={"when": object()}) as record,
    ):
        record.output(label="fraud")
    span = only_span(exporter)
    assert conv.INPUT_FINGERPRINT not in span.attributes
    assert span.attributes[conv.OUTPUT_LABEL] == "fraud"
    assert "input fingerprint left off the span" in caplog.text


def test_outputs_of_the_wrong_type_are_left_off_not_raised(tracer, exporter, caplog):
    with caplog.at_level(logging.WARNING, logger="parallax_sdk"), fraud_scoring(tracer) as record:
        record.output(label="fraud", score="high", confidence=True, value={1, 2})
    attributes = only_span(exporter).attributes
    assert attributes[conv.OUTPUT_LABEL] == "fraud"
    for key in (conv.OUTPUT_SCORE, conv.CONFIDENCE, conv.OUTPUT_DIGEST):
        assert key not in attributes
    assert len(caplog.messages) == 3


def test_a_single_string_topk_is_one_label_not_its_characters(tracer, exporter):
    with fraud_scoring(tracer) as record:
        record.output(topk="fraud")
    assert only_span(exporter).attributes[conv.OUTPUT_TOPK] == ("fraud",)


def test_the_helper_imports_no_lake_or_collector_libraries():
    code = (
        "import sys, parallax_sdk; "
        "print([m for m in ('duckdb', 'pyarrow', 'numpy', 'store', 'collector', 'zstandard', "
        "'grpc') if m in sys.modules])"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "[]", result.stderr
