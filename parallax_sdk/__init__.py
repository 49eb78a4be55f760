"""The instrumentation SDK: one OpenTelemetry span per inference, tagged with the conventions.

For apps that use the plain OpenTelemetry SDK; an app depends on it without the collector
(``pip install 'parallax[sdk]'``). The helper only sets attributes on a span from the
tracer the app passes in; exporting (to the node's collector) stays the app's
OpenTelemetry configuration. It imports nothing beyond ``opentelemetry-api``, the kernel
(``parallax``) and the standard library.

Example::

    from opentelemetry import trace
    from parallax_sdk import inference

    tracer = trace.get_tracer("fraud-service")
    with inference(
        tracer, feature="fraud-scoring", model="fraud-gbm", version="2.3",
        quantization="int8", inputs=features, cold_start=False,
    ) as record:
        score = model.predict(features)
        record.output(label="fraud" if score >= 0.5 else "legit", score=score,
                      confidence=abs(score - 0.5) * 2)

Telemetry never breaks the inference it describes: an unknown quantization becomes
``other``, an unknown hardware tier is left off the span (the collector tags the node's
tier as a resource attribute), and an input or output the canonical form cannot
represent leaves its fingerprint or digest off; each case is logged as a warning, at
most once a minute per kind of problem. Only :func:`fingerprint` and
:func:`output_digest`, called directly, raise on such values. Exceptions raised by the
app's own code inside the block are recorded on the span and re-raised unchanged.

Canonical form (the definition other-language SDKs reproduce; see
``docs/instrumenting.md`` for the test vector). A value is first mapped to a JSON value:

- ``None`` → ``null``; ``True``/``False`` → ``true``/``false`` (never ``1``/``0``);
- an ``int`` → its decimal digits, any size (``-12``); an int subclass such as an
  ``IntEnum`` counts as the plain int;
- a ``float`` → its shortest round-trip decimal form (Python ``repr``): the fewest
  significant digits that read back to the same IEEE-754 double. With ``e`` the decimal
  exponent of the first significant digit, positional when ``-4 <= e < 16``, always with
  at least one digit after the point (``1.0``, ``0.0001``, ``-0.0``,
  ``1000000000000000.0``); otherwise scientific, a point only when there is more than one
  digit, the exponent signed with at least two digits (``1e-05``, ``1.5e+16``,
  ``2.5e-300``). Not-a-number and infinities are written ``NaN``, ``Infinity``,
  ``-Infinity`` (not valid JSON, but reproducible);
- a ``str`` → itself; ``bytes``/``bytearray``/``memoryview`` → standard base64 with
  padding (RFC 4648 section 4) as a string, so ``b"\\x00"`` and ``"AA=="`` are equal;
- a ``list`` or ``tuple`` → an array, order kept (a tuple equals the same list);
- a mapping (``dict`` or any ``collections.abc.Mapping``) → an object; its keys must be
  ``str`` (anything else is a ``TypeError``, so ``{1: x}`` never collides with
  ``{"1": x}``);
- any other object with a ``tolist()`` method (numpy arrays and scalars, torch tensors,
  pandas series) → the canonical form of what ``tolist()`` returns;
- anything else → ``TypeError`` (sets, datetimes, custom objects: convert them first).

The JSON value is then written with no whitespace (separators ``,`` and ``:``), object
members sorted by key in Unicode code point order (not UTF-16 code unit order: it differs
above U+FFFF), and strings escaped as in RFC 8785 section 3.2.2.2: ``"`` → ``\\"``,
``\\`` → ``\\\\``, U+0008 ``\\b``, U+0009 ``\\t``, U+000A ``\\n``, U+000C ``\\f``, U+000D
``\\r``, every other code point below U+0020 as ``\\u00xx`` (lowercase hex), everything else
(including ``/``, U+007F and all non-ASCII) literally. The text is encoded as UTF-8 (a
string with a lone surrogate is a ``ValueError``) and hashed with BLAKE2b configured for a
16-byte digest (digest length parameter 16, no key, salt or personalization: this is not
the first 16 bytes of BLAKE2b-512). The fingerprint is that digest as 32 lowercase hex
digits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from parallax import conventions as conv
from parallax.conventions import HardwareTier, Quantization, parse_quantization, parse_tier
from parallax.ratelimit import RateLimitedLog

__all__ = [
    "DEFAULT_OPERATION",
    "FINGERPRINT_BYTES",
    "InferenceRecord",
    "canonical_json",
    "fingerprint",
    "inference",
    "normalize_quantization",
    "normalize_tier",
    "output_digest",
]

FINGERPRINT_BYTES = 16
"""BLAKE2b digest size of fingerprints and output digests (32 hex digits)."""

DEFAULT_OPERATION = "predict"
"""``gen_ai.operation.name`` when the app does not name one (classic model inference)."""

_WARNING_INTERVAL_S = 60.0

logger = logging.getLogger(__name__)
_warnings = RateLimitedLog(logger, _WARNING_INTERVAL_S)


# --- Canonical form ------------------------------------------------------------------


def canonical_json(value: object) -> str:
    """The canonical text of ``value`` that fingerprints and digests hash (see module doc).

    >>> canonical_json({"b": (1, 2.0), "a": b"\\x00\\xff", "c": None})
    '{"a":"AP8=","b":[1,2.0],"c":null}'

    Raises ``TypeError`` for a value the canonical form does not cover.
    """
    return json.dumps(
        _plain(value, "$"),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=True,
    )


def fingerprint(value: object) -> str:
    """A stable hash of a model input: BLAKE2b-128 of its canonical form, as 32 hex digits.

    Equal inputs give equal fingerprints in every process, machine and Python version
    (dict key order and list-versus-tuple do not matter), so the reconciler can group
    the same input scored by different model variants.

    >>> fingerprint({"amount": 12.5, "country": "DE"}) == fingerprint({"country": "DE",
    ...                                                              "amount": 12.5})
    True

    Raises ``TypeError`` for a value the canonical form does not cover and ``ValueError``
    for a string that is not valid Unicode (a lone surrogate).
    """
    return _hash(value)


def output_digest(value: object) -> str:
    """A stable hash of a model output, for features compared with the ``digest`` comparator.

    The same canonical form and hash as :func:`fingerprint`: two variants agree exactly
    when their outputs have the same canonical form (``0.93`` and ``0.9300000001`` differ).

    >>> output_digest(["fraud", 0.93]) == output_digest(("fraud", 0.93))
    True
    """
    return _hash(value)


def _hash(value: object) -> str:
    data = canonical_json(value).encode("utf-8")
    return hashlib.blake2b(data, digest_size=FINGERPRINT_BYTES).hexdigest()


def _plain(value: object, path: str) -> object:
    """``value`` as plain JSON types (dict with str keys, list, str, int, float, bool, None)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return value  # a str subclass (StrEnum) is written as its characters
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, list | tuple):
        return [_plain(item, f"{path}[{index}]") for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        plain: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(
                    f"cannot fingerprint {path}: object keys must be str, "
                    f"got {type(key).__name__} {key!r}"
                )
            plain[str(key)] = _plain(item, f"{path}[{key!r}]")
        return plain
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        converted = tolist()
        if type(converted) is type(value):
            raise TypeError(
                f"cannot fingerprint {path}: {type(value).__name__}.tolist() returned the same type"
            )
        return _plain(converted, path)
    raise TypeError(
        f"cannot fingerprint {path}: unsupported type {type(value).__name__} "
        "(use dict, list, tuple, str, int, float, bool, None, bytes or an array with tolist())"
    )


# --- Enumerated values -------------------------------------------------------------------


def normalize_quantization(value: Quantization | str) -> Quantization:
    """``value`` as a :class:`Quantization` (``parallax.conventions.parse_quantization``:
    case, spaces and common spellings such as ``float16`` are tolerated).

    An unknown value (``"q4_k_m"``, ``"fp8"``) becomes ``Quantization.OTHER`` and is
    logged, so a new precision never stops the app; extend the enum to name it.
    """
    parsed = parse_quantization(_text(value))
    if parsed is None:
        _warn(
            "quantization",
            "unknown quantization %r recorded as %r; known values: %s",
            value,
            Quantization.OTHER.value,
            ", ".join(q.value for q in Quantization),
        )
        return Quantization.OTHER
    return parsed


def normalize_tier(value: HardwareTier | str) -> HardwareTier | None:
    """``value`` as a :class:`HardwareTier`, or ``None`` (logged) when it is not one.

    Case, surrounding spaces and ``_`` for ``-`` (``NEAR_EDGE``) are tolerated
    (``parallax.conventions.parse_tier``). There is no "other" tier: an unknown value is
    left off the span, so the tier the collector sets for the whole node (a resource
    attribute) applies instead.
    """
    parsed = parse_tier(_text(value))
    if parsed is None:
        _warn(
            "tier",
            "unknown hardware tier %r left off the span; known values: %s",
            value,
            ", ".join(t.value for t in HardwareTier),
        )
    return parsed


def _text(value: object) -> str:
    return value.value if isinstance(value, Quantization | HardwareTier) else str(value)


# --- The span ------------------------------------------------------------------------------


class InferenceRecord:
    """The handle :func:`inference` yields: records the output on the inference span."""

    def __init__(self, span: Span, input_fingerprint: str | None) -> None:
        self._span = span
        self._fingerprint = input_fingerprint

    @property
    def span(self) -> Span:
        """The inference span, for attributes or events of the app's own."""
        return self._span

    @property
    def fingerprint(self) -> str | None:
        """The input fingerprint set on the span (``None`` when there was none)."""
        return self._fingerprint

    def output(
        self,
        *,
        label: object = None,
        score: float | None = None,
        confidence: float | None = None,
        topk: Iterable[object] | None = None,
        value: object = None,
        digest: str | None = None,
    ) -> None:
        """Record the model's output; every argument is optional, ``None`` means "not set".

        ``label`` is written as text (``str(label)``), ``score`` and ``confidence`` as
        doubles, ``topk`` as an array of labels (best first, each as text). ``value`` is
        the raw output to digest with :func:`output_digest`; ``digest`` a digest computed
        elsewhere (it wins over ``value``). Calling again overwrites what was set. A score,
        confidence or value that cannot be recorded is logged and left off, never raised.

        >>> record.output(label="fraud", score=0.93, confidence=0.86,
        ...               topk=["fraud", "chargeback"], value=raw_output)  # doctest: +SKIP
        """
        attributes: dict[str, Any] = {}
        if label is not None:
            attributes[conv.OUTPUT_LABEL] = str(label)
        for key, number in ((conv.OUTPUT_SCORE, score), (conv.CONFIDENCE, confidence)):
            if number is not None:
                as_float = _as_float(key, number)
                if as_float is not None:
                    attributes[key] = as_float
        if topk is not None:
            labels = [topk] if isinstance(topk, str) else topk
            attributes[conv.OUTPUT_TOPK] = [str(item) for item in labels]
        if digest is not None:
            attributes[conv.OUTPUT_DIGEST] = str(digest)
        elif value is not None:
            computed = _safe_hash("output digest", value)
            if computed is not None:
                attributes[conv.OUTPUT_DIGEST] = computed
        self._span.set_attributes(attributes)


@contextmanager
def inference(
    tracer: Tracer,
    *,
    feature: str,
    model: str,
    version: str,
    quantization: Quantization | str | None = None,
    tier: HardwareTier | str | None = None,
    accelerator: str | None = None,
    inputs: object = None,
    fingerprint: str | None = None,
    cold_start: bool | None = None,
    operation: str = DEFAULT_OPERATION,
    kind: SpanKind = SpanKind.INTERNAL,
) -> Iterator[InferenceRecord]:
    """Open the span ``inference <feature>`` for one inference and yield its record.

    Sets ``gen_ai.operation.name`` (``operation``), ``gen_ai.request.model`` (``model``),
    ``parallax.feature``, ``parallax.model.version``, and when given
    ``parallax.model.quantization``, ``parallax.hardware.tier``,
    ``parallax.hardware.accelerator``, ``parallax.cold_start`` and
    ``parallax.input.fingerprint``: ``fingerprint`` if given (precomputed, e.g. by the
    caller upstream), else :func:`fingerprint` of ``inputs`` (``None`` means no input to
    fingerprint). They are set when the span starts, so a sampler sees them.

    ``kind`` defaults to ``INTERNAL``: the model runs inside the app's process, under the
    span of whatever request the app is serving (an HTTP or gRPC ``SERVER`` span from its
    framework's instrumentation, which a second ``SERVER`` span would duplicate); the
    OpenTelemetry GenAI conventions allow ``INTERNAL`` for a model running in the same
    process (``CLIENT`` for a remote one). Pass ``SpanKind.SERVER`` when this span is the
    outermost one of a request that reached the process, ``SpanKind.CLIENT`` when the
    model runs elsewhere.

    An exception from the block is recorded on the span (an ``exception`` event, status
    ``ERROR`` with ``"<type>: <message>"``) and re-raised. What derives from
    ``BaseException`` only (``KeyboardInterrupt``, ``asyncio.CancelledError``) is not an
    error of the inference and passes through unrecorded.

    >>> with inference(tracer, feature="fraud-scoring", model="fraud-gbm", version="2.3",
    ...                quantization="int8", inputs=features) as record:  # doctest: +SKIP
    ...     record.output(label="fraud", score=0.93, confidence=0.86)
    """
    attributes: dict[str, Any] = {
        conv.GEN_AI_OPERATION_NAME: str(operation),
        conv.GEN_AI_REQUEST_MODEL: str(model),
        conv.FEATURE: str(feature),
        conv.MODEL_VERSION: str(version),
    }
    if quantization is not None:
        attributes[conv.MODEL_QUANTIZATION] = normalize_quantization(quantization).value
    if tier is not None:
        known_tier = normalize_tier(tier)
        if known_tier is not None:
            attributes[conv.HARDWARE_TIER] = known_tier.value
    if accelerator is not None:
        attributes[conv.HARDWARE_ACCELERATOR] = str(accelerator)
    if cold_start is not None:
        attributes[conv.COLD_START] = bool(cold_start)
    input_fingerprint: str | None = None
    if fingerprint is not None:
        input_fingerprint = str(fingerprint)
    elif inputs is not None:
        input_fingerprint = _safe_hash("input fingerprint", inputs)
    if input_fingerprint is not None:
        attributes[conv.INPUT_FINGERPRINT] = input_fingerprint

    with tracer.start_as_current_span(
        f"inference {feature}",
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        try:
            yield InferenceRecord(span, input_fingerprint)
        except Exception as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
            raise


def _safe_hash(what: str, value: object) -> str | None:
    try:
        return _hash(value)
    except (TypeError, ValueError, RecursionError) as err:
        _warn(what, "%s left off the span: %s", what, err)
        return None


def _as_float(key: str, number: object) -> float | None:
    if isinstance(number, bool):
        _warn(key, "%s must be a number, got a bool; left off the span", key)
        return None
    try:
        return float(number)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        _warn(key, "%s must be a number, got %r; left off the span", key, number)
        return None


# --- Warnings that cannot flood an inference loop ----------------------------------------


def _warn(kind: str, message: str, *args: object) -> None:
    """Log ``message`` at most once per ``_WARNING_INTERVAL_S`` per ``kind``."""
    _warnings.log(logging.WARNING, kind, message, *args)
