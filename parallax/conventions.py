"""Semantic conventions: every attribute key Parallax reads or writes, in one place.

Standard OpenTelemetry keys are used where they exist; the rest live under the
``parallax.`` prefix. Nothing else in the code base spells a key as a string literal.
"""

from __future__ import annotations

from enum import StrEnum

# --- OpenTelemetry standard keys -------------------------------------------------
SERVICE_NAME = "service.name"
HOST_ID = "host.id"
CLOUD_REGION = "cloud.region"
DEPLOYMENT_ENVIRONMENT = "deployment.environment.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"

# --- Parallax keys ------------------------------------------------------------------
FEATURE = "parallax.feature"
MODEL_VERSION = "parallax.model.version"
MODEL_QUANTIZATION = "parallax.model.quantization"
HARDWARE_TIER = "parallax.hardware.tier"
HARDWARE_ACCELERATOR = "parallax.hardware.accelerator"
INPUT_FINGERPRINT = "parallax.input.fingerprint"
OUTPUT_LABEL = "parallax.output.label"
OUTPUT_SCORE = "parallax.output.score"
OUTPUT_DIGEST = "parallax.output.digest"
OUTPUT_TOPK = "parallax.output.topk"
CONFIDENCE = "parallax.confidence"
COLD_START = "parallax.cold_start"


class Quantization(StrEnum):
    """Numeric precision a model variant runs in."""

    FP32 = "fp32"
    FP16 = "fp16"
    BF16 = "bf16"
    INT8 = "int8"
    INT4 = "int4"
    OTHER = "other"


class HardwareTier(StrEnum):
    """Where in the fleet a node sits."""

    DEVICE = "device"
    NEAR_EDGE = "near-edge"
    CLOUD = "cloud"


_QUANTIZATION_ALIASES = {
    "float32": Quantization.FP32, "f32": Quantization.FP32,
    "float16": Quantization.FP16, "half": Quantization.FP16, "f16": Quantization.FP16,
    "bfloat16": Quantization.BF16,
    "i8": Quantization.INT8, "q8": Quantization.INT8, "qint8": Quantization.INT8,
    "i4": Quantization.INT4, "q4": Quantization.INT4, "qint4": Quantization.INT4,
}  # fmt: skip
_TIER_ALIASES = {
    "nearedge": HardwareTier.NEAR_EDGE, "edge": HardwareTier.NEAR_EDGE,
    "on-device": HardwareTier.DEVICE, "datacenter": HardwareTier.CLOUD,
}  # fmt: skip


def parse_quantization(value: str) -> Quantization | None:
    """The Quantization a spelling means (``FP16``, ``float16`` -> fp16); None if none."""
    token = value.strip().lower()
    try:
        return Quantization(token)
    except ValueError:
        return _QUANTIZATION_ALIASES.get(token)


def quantization_spellings() -> dict[str, Quantization]:
    """Every lowercase spelling :func:`parse_quantization` accepts, and what it means."""
    return {q.value: q for q in Quantization} | _QUANTIZATION_ALIASES


def tier_spellings() -> dict[str, HardwareTier]:
    """Every lowercase spelling (``_`` as ``-``) :func:`parse_tier` accepts, and its tier."""
    return {t.value: t for t in HardwareTier} | _TIER_ALIASES


def parse_tier(value: str) -> HardwareTier | None:
    """The HardwareTier a spelling means (``NEAR_EDGE`` -> near-edge); None if none."""
    token = value.strip().lower().replace("_", "-")
    try:
        return HardwareTier(token)
    except ValueError:
        return _TIER_ALIASES.get(token)


# --- Canonical values: what the lake stores for a spelling ----------------------------
# Ingest stores these in ``spans`` (keeping the spelling as sent where it differs), and
# the lake's macros (store.canonical) spell the same rules in SQL.
VALUE_WHITESPACE = " \t\n\r\f\v"
"""What is trimmed from either end of a spelling before it is looked up."""


def canonical_quantization(value: str) -> str:
    """The stored quantization: its convention word, ``other`` when it means none."""
    parsed = _QUANTIZATION_LOOKUP.get(value.strip(VALUE_WHITESPACE).lower())
    return (parsed or Quantization.OTHER).value


def canonical_tier(value: str) -> str:
    """The stored tier: its convention word; an unknown tier lowercased, spaces as ``-``."""
    token = value.strip(VALUE_WHITESPACE).lower()
    parsed = _TIER_LOOKUP.get(token.replace("_", "-"))
    return parsed.value if parsed else token.replace(" ", "-")


_QUANTIZATION_LOOKUP = quantization_spellings()
_TIER_LOOKUP = tier_spellings()


# --- Wire contract: gRPC metadata on OTLP Export calls from our collector ------------
# A batch is identified by (node id, buffer id, batch sequence). The ingest service
# commits a batch's spans together with its identity and acknowledges a retried batch
# that is already committed without writing it again. See docs/wire-contract.md.
NODE_ID_HEADER = "parallax-node-id"
BUFFER_ID_HEADER = "parallax-buffer-id"  # the collector buffer's random id: a wiped buffer
BATCH_SEQUENCE_HEADER = "parallax-batch-seq"  # starts again at 1 under a new id
