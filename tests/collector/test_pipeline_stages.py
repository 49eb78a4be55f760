"""The collector's small stages one by one: sampling, tagging, retry policy, bandwidth."""

from __future__ import annotations

import random
import threading

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from collector.bandwidth import BandwidthLimit
from collector.inventory import INVENTORY_TTL_S, ModelInventory
from collector.retry import Backoff, classify
from collector.sampling import Sampler, keep_fraction
from collector.tagging import NodeIdentity, Tagger
from parallax import conventions as conv
from tests.otlp import export_request, inference_span


def test_two_nodes_with_the_same_ratio_keep_exactly_the_same_inputs():
    inputs = [f"input-{i}" for i in range(2000)]
    first, second = Sampler(ratio=0.3), Sampler(ratio=0.3)
    kept_first = [fp for fp in inputs if first.keep(fp)]
    kept_second = [fp for fp in inputs if second.keep(fp)]
    assert kept_first == kept_second
    assert 500 < len(kept_first) < 700
    assert keep_fraction("input-7") == keep_fraction("input-7")


def test_errors_cold_starts_low_confidence_and_unfingerprinted_spans_are_always_kept():
    sampler = Sampler(ratio=0.0001, keep_confidence_below=0.5)
    dropped = next(fp for fp in (f"x{i}" for i in range(100)) if keep_fraction(fp) > 0.01)
    assert not sampler.keep(dropped)
    assert sampler.keep(dropped, is_error=True)
    assert sampler.keep(dropped, cold_start=True)
    assert sampler.keep(dropped, confidence=0.2)
    assert not sampler.keep(dropped, confidence=0.9)
    assert sampler.keep(None)


def test_tagging_adds_the_node_identity_without_overwriting_the_app():
    tagger = Tagger(NodeIdentity("edge-1", "device", "npu", "eu"), Sampler())
    request = export_request([inference_span()], resource={conv.CLOUD_REGION: "app-region"})
    tagger.process(request)
    resource = {
        kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes
    }
    assert resource[conv.CLOUD_REGION] == "app-region"
    assert resource[conv.HOST_ID] == "edge-1"
    assert resource[conv.HARDWARE_TIER] == "device"
    assert resource[conv.HARDWARE_ACCELERATOR] == "npu"


def test_convention_values_pass_as_sent_and_the_inventory_counts_one_model_once():
    tagger = Tagger(NodeIdentity("edge-1", hardware_tier="NEAR_EDGE"), Sampler())
    spans = [
        inference_span(attrs={conv.MODEL_QUANTIZATION: "FP16"}),
        inference_span(attrs={conv.MODEL_QUANTIZATION: "float16", conv.HARDWARE_TIER: "Edge"}),
        inference_span(attrs={conv.MODEL_QUANTIZATION: "q4_k_m", conv.HARDWARE_TIER: "moon"}),
    ]
    request = export_request(spans)
    assert tagger.process(request) == 3
    values = [
        {kv.key: kv.value.string_value for kv in span.attributes}
        for span in request.resource_spans[0].scope_spans[0].spans
    ]
    # Ingest stores the canonical words and keeps these spellings (store.canonical).
    assert [v[conv.MODEL_QUANTIZATION] for v in values] == ["FP16", "float16", "q4_k_m"]
    assert [v.get(conv.HARDWARE_TIER) for v in values] == [None, "Edge", "moon"]
    resource = {
        kv.key: kv.value.string_value for kv in request.resource_spans[0].resource.attributes
    }
    assert resource[conv.HARDWARE_TIER] == "NEAR_EDGE"
    request.resource_spans[0].resource.ClearField("attributes")
    original = export_request(spans)
    original.resource_spans[0].resource.ClearField("attributes")
    assert request == original, "only the resource gained attributes"
    assert tagger.inventory.models() == [
        ("fraud-gbm", "2.3", "fp16", True),
        ("fraud-gbm", "2.3", "other", True),
    ]


def test_a_model_that_stopped_serving_leaves_the_inventory():
    now = [1000.0]
    inventory = ModelInventory(clock=lambda: now[0])
    tagger = Tagger(NodeIdentity("edge-1"), Sampler(ratio=1.0), inventory)
    tagger.process(export_request([inference_span(attrs={conv.MODEL_VERSION: "2.1"})]))
    tagger.process(export_request([inference_span(attrs={conv.MODEL_VERSION: "2.3"})]))
    assert [model[1] for model in inventory.models()] == ["2.1", "2.3"]

    now[0] += INVENTORY_TTL_S + 1  # the node upgraded: only 2.3 keeps serving
    tagger.process(export_request([inference_span(attrs={conv.MODEL_VERSION: "2.3"})]))

    assert [model[1] for model in inventory.models()] == ["2.3"]


def test_the_inventory_keeps_whether_a_models_latest_inference_was_warm():
    inventory = ModelInventory()
    inventory.served("gbm", "2.3", "INT8", cold_start=True)
    assert inventory.models() == [("gbm", "2.3", "int8", False)]
    inventory.served("gbm", "2.3", "int8", cold_start=False)
    inventory.served("gbm", "2.4", "", cold_start=False)
    assert inventory.models() == [("gbm", "2.3", "int8", True), ("gbm", "2.4", "", True)]


def test_sampled_out_spans_leave_the_request():
    tagger = Tagger(NodeIdentity("edge-1"), Sampler(ratio=0.5, keep_confidence_below=0))
    request = export_request([inference_span() for _ in range(200)])
    kept = tagger.process(request)
    assert kept == len(request.resource_spans[0].scope_spans[0].spans)
    assert kept + tagger.counters.spans_sampled_out == 200


class _CallError(grpc.RpcError, grpc.Call):
    """A finished call's error as grpc raises it: a status code, details, trailers."""

    def __init__(self, code, details="", trailing=()):
        self._code, self._details, self._trailing = code, details, tuple(trailing)

    def code(self):
        return self._code

    def details(self):
        return self._details

    def trailing_metadata(self):
        return self._trailing

    def initial_metadata(self):
        return ()

    def is_active(self):
        return False

    def time_remaining(self):
        return None

    def cancel(self):
        return False

    def add_callback(self, callback):
        return False


def _resource_exhausted(with_retry_info: bool) -> _CallError:
    details = []
    if with_retry_info:
        detail = any_pb2.Any()
        detail.Pack(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=3)))
        details.append(detail)
    status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.RESOURCE_EXHAUSTED, message="full", details=details)
    )
    return _CallError(status.code, status.details, status.trailing_metadata)


def test_retryable_codes_follow_the_otlp_specification():
    for code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.DATA_LOSS,
    ):
        assert classify(_CallError(code)).retryable, code
    for code in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
    ):
        assert not classify(_CallError(code)).retryable, code


def test_a_refusal_of_the_nodes_credentials_keeps_the_batch_for_a_retry():
    """The node's token or identity is at fault, not the batch: once fixed, it must arrive."""
    for code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        assert classify(_CallError(code)).retryable, code


def test_resource_exhausted_is_retried_only_with_retry_info_and_after_its_delay():
    with_info = classify(_resource_exhausted(with_retry_info=True))
    assert with_info.retryable and with_info.retry_after_s == 3
    assert not classify(_resource_exhausted(with_retry_info=False)).retryable
    backoff = Backoff(initial_s=0.1, max_s=1.0, rng=random.Random(1))
    assert backoff.next_delay(server_delay_s=3) >= 3


def test_backoff_grows_with_full_jitter_and_is_capped():
    backoff = Backoff(initial_s=0.5, max_s=4.0, rng=random.Random(7))
    delays = [backoff.next_delay() for _ in range(50)]
    assert all(0 <= d <= 4.0 for d in delays)
    assert max(delays[:2]) <= 1.0  # attempts 0 and 1: at most 0.5 and 1.0
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_bandwidth_cap_spends_its_budget_and_shutdown_interrupts_the_wait():
    stop = threading.Event()
    limit = BandwidthLimit(1000, stop)
    assert limit.take(1000)  # a full bucket
    stop.set()
    assert not limit.take(1000)  # would wait a second: interrupted
    assert BandwidthLimit(0, stop).take(10**9)  # no cap
