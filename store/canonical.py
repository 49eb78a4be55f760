"""Canonical values in the lake: the convention columns with spellings, and the variant.

``spans.quantization`` and ``spans.hardware_tier`` hold the canonical word of what was
sent (``parallax.conventions.canonical_quantization`` / ``canonical_tier``); the
spelling as sent is kept in ``<column>_as_sent`` where it differed, NULL otherwise.
Ingest canonicalises with :func:`canonical_columns`, one lookup per distinct value of a
group rather than per span.

The lake also carries, as macros, the same rules in SQL (generated here from
``parallax.conventions`` when the migration that creates them runs) and the one
definition of a variant that the reconciler, the dashboard and analysts use:
``px_variant(model_name, model_version, quantization, hardware_tier, accelerator)``, the
text 'MODEL VERSION QUANTIZATION TIER [ACCELERATOR]', ``unknown`` for a missing part.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from parallax import conventions as conv


@dataclass(frozen=True)
class Canonical:
    """A ``spans`` column stored canonically, and the rule that makes it so."""

    column: str
    canonical: Callable[[str], str]
    macro: str  # the lake macro spelling the same rule in SQL

    @property
    def as_sent(self) -> str:
        return f"{self.column}_as_sent"


CANONICAL: tuple[Canonical, ...] = (
    Canonical("quantization", conv.canonical_quantization, "px_canonical_quantization"),
    Canonical("hardware_tier", conv.canonical_tier, "px_canonical_tier"),
)


def rule_for(column: str) -> Canonical:
    """The rule of one canonical column (``hardware_tier``, ``quantization``)."""
    return next(rule for rule in CANONICAL if rule.column == column)


def canonical_columns(values: pa.Array, rule: Canonical) -> tuple[pa.Array, pa.Array]:
    """``values`` in canonical words, and the spelling as sent where it differed (else NULL).

    The rule runs once per distinct value (a group holds a handful), not once per span.
    """
    encoded = pc.dictionary_encode(values)
    spellings = encoded.dictionary.to_pylist()
    words = [rule.canonical(spelling) for spelling in spellings]
    as_sent = [s if w != s else None for s, w in zip(spellings, words, strict=True)]
    indices = encoded.indices
    return (
        pa.array(words, pa.string()).take(indices),
        pa.array(as_sent, pa.string()).take(indices),
    )


# --- The same rules in SQL, for the lake -------------------------------------------------


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _whitespace_sql() -> str:
    return " || ".join(f"chr({ord(c)})" for c in conv.VALUE_WHITESPACE)


def _case(token: str, spellings: dict[str, str], otherwise: str) -> str:
    arms = " ".join(
        f"WHEN {_sql_text(raw)} THEN {_sql_text(word)}" for raw, word in sorted(spellings.items())
    )
    return f"CASE WHEN {token} IS NULL THEN NULL ELSE CASE {token} {arms} ELSE {otherwise} END END"


def macro_definitions() -> list[str]:
    """The lake's macros (``CREATE OR REPLACE MACRO`` bodies), from parallax.conventions."""
    token = f"lower(trim(q, {_whitespace_sql()}))"
    quantization = _case(
        token,
        {raw: q.value for raw, q in conv.quantization_spellings().items()},
        _sql_text(conv.Quantization.OTHER.value),
    )
    tier_token = f"lower(trim(t, {_whitespace_sql()}))"
    tier = _case(
        f"replace({tier_token}, '_', '-')",
        {raw: t.value for raw, t in conv.tier_spellings().items()},
        f"replace({tier_token}, ' ', '-')",
    )
    return [
        f"px_canonical_quantization(q) AS {quantization}",
        f"px_canonical_tier(t) AS {tier}",
        """px_variant(model_name, model_version, quantization, hardware_tier, accelerator) AS
            concat_ws(' ',
                replace(coalesce(nullif(model_name, ''), 'unknown'), ' ', '_'),
                replace(coalesce(nullif(model_version, ''), 'unknown'), ' ', '_'),
                coalesce(quantization, 'unknown'),
                coalesce(hardware_tier, 'unknown'),
                nullif(replace(accelerator, ' ', '_'), ''))""",
    ]


def create_macros_sql() -> str:
    """The statements that (re)create the lake's macros."""
    return "\n".join(f"CREATE OR REPLACE MACRO {body};" for body in macro_definitions())
