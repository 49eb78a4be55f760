"""The policies file (TOML, docs/policies.md): read, checked and resolved into Policies.

File layout::

    [defaults]                      # optional; fills every key a feature omits
    tolerance = 0.02
    [features.fraud-scoring]        # one table per feature
    comparator = "label"
    resolution = "reference"
    reference_variant = "fraud-gbm 2.3 fp32 cloud"

A value resolves as: built-in default < ``[defaults]`` < ``[features.<name>]``; a feature
without a table gets the defaults. The whole file is checked when it is loaded: an unknown
table or key, a value of the wrong type or out of range, ``resolution = "reference"``
without ``reference_variant``, or a key that does not apply to the feature's comparator or
resolution (e.g. ``topk_min_overlap`` on a ``label`` feature) raises :class:`PolicyError`
naming the file, the feature, the key and the reason. In ``[defaults]`` such keys are
allowed: they apply to the features where they are relevant.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from parallax import checks
from parallax.config import read_toml
from parallax.conventions import HardwareTier, parse_tier
from parallax.errors import ConfigFileError
from reconciler.errors import DEFAULTS_LOCATION, PolicyError
from reconciler.policies import Comparator, FeaturePolicy, Policies, Resolution
from reconciler.variants import Variant


@dataclass(frozen=True)
class _Key:
    kind: type
    check: checks.Check | None = None
    applies: tuple[str, str] | None = None  # (key, value) the key is only meaningful with


_FALLBACKS = ("highest_precision", "newest", "majority", "none")


def _tier_budgets(table: dict[str, Any]) -> str | None:
    """A table of tier = budget in ms: each tier once (in any spelling), each budget > 0."""
    tiers = [parse_tier(name) for name in table]
    if None in tiers or len(set(tiers)) < len(tiers):
        return f"must name each tier once, from {', '.join(HardwareTier)}"
    numbers = [v for v in table.values() if isinstance(v, int | float) and not isinstance(v, bool)]
    if len(numbers) < len(table) or min(numbers, default=1) <= 0:
        return "budgets must be milliseconds greater than 0"
    return None


KEYS: Mapping[str, _Key] = MappingProxyType(
    {
        "comparator": _Key(str, checks.one_of(*Comparator)),
        "tolerance": _Key(float, checks.at_least(0)),
        "topk_min_overlap": _Key(float, checks.ratio, ("comparator", "topk")),
        "max_disagreement_rate": _Key(float, checks.rate, ("comparator", "score")),
        "window_s": _Key(float, checks.positive),
        "min_shared_inputs": _Key(int, checks.at_least(1)),
        "resolution": _Key(str, checks.one_of(*Resolution)),
        "reference_variant": _Key(str, None, ("resolution", "reference")),
        "reference_fallback": _Key(str, checks.one_of(*_FALLBACKS), ("resolution", "reference")),
        "max_versions_behind": _Key(int, checks.at_least(0)),
        "max_days_behind": _Key(float, checks.at_least(0)),
        "latency_budget_ms": _Key(float, checks.positive),
        "latency_budget_ms_by_tier": _Key(dict, _tier_budgets),
    }
)
"""Every key a ``[defaults]`` or ``[features.<name>]`` table may hold."""

BUILTIN_DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "comparator": "label",
        "tolerance": 0.02,
        "topk_min_overlap": 0.8,
        "max_disagreement_rate": 0.02,
        "window_s": 3600.0,
        "min_shared_inputs": 30,
        "resolution": "majority",
        "reference_fallback": "highest_precision",
        "max_versions_behind": 1,
        "max_days_behind": 30.0,
        "latency_budget_ms": 30.0,
        "latency_budget_ms_by_tier": MappingProxyType({}),
    }
)
"""The value of every key neither ``[defaults]`` nor the feature sets (none for
``reference_variant``, which has no default)."""

_BUILTIN = "built-in default"
_OWN = "the feature's own table"


def load_policies(path: str | Path) -> Policies:
    """Read and check a policies file; raise PolicyError naming file, feature, key and reason."""
    try:
        data = read_toml(path, "policies file")
    except ConfigFileError as err:
        raise PolicyError(err.file, "", "", err.reason) from err
    return policies_from_mapping(data, str(path))


def configured_policies(path: str) -> Policies:
    """The policies of ``reconciler.policies_file``: the file, or the built-ins when empty."""
    return load_policies(path) if path else builtin_policies()


def builtin_policies() -> Policies:
    """The policies in force when no file is configured: every feature gets the built-ins."""
    return policies_from_mapping({}, _BUILTIN)


def policies_from_mapping(data: Mapping[str, Any], source: str) -> Policies:
    """Check parsed TOML ``data``; ``source`` names it in errors (usually the file path)."""
    for table in data:
        if table not in ("defaults", "features"):
            raise PolicyError(source, "", table, "unknown table (known: defaults, features)")
    defaults_raw = _table(data, "defaults", source, DEFAULTS_LOCATION)
    features_raw = _table(data, "features", source, "")
    layered = {key: (value, _BUILTIN) for key, value in BUILTIN_DEFAULTS.items()}
    layered |= _checked(defaults_raw, source, DEFAULTS_LOCATION)
    defaults = _resolve(layered, source, DEFAULTS_LOCATION, "")
    features = {}
    for name, table in features_raw.items():
        if not isinstance(table, dict):
            raise PolicyError(source, name, "", "must be a table ([features.<name>])")
        own = _checked(table, source, name)
        features[name] = _resolve(layered | own, source, name, name)
    return Policies(source, defaults, MappingProxyType(features))


def _table(data: Mapping[str, Any], name: str, source: str, feature: str) -> dict[str, Any]:
    table = data.get(name, {})
    if not isinstance(table, dict):
        raise PolicyError(source, feature, name if not feature else "", "must be a table")
    return table


def _checked(table: Mapping[str, Any], source: str, feature: str) -> dict[str, tuple[Any, str]]:
    """Each key of one table checked on its own: known, of its type, in its range.

    Values come back with their origin: ``[defaults]`` or the feature's own table.
    """
    where = DEFAULTS_LOCATION if feature == DEFAULTS_LOCATION else _OWN
    out = {}
    for key, value in table.items():
        spec = KEYS.get(key)
        if spec is None:
            known = ", ".join(KEYS)
            raise PolicyError(source, feature, key, f"unknown key (known: {known})")
        value, problem = checks.problem_with(value, spec.kind, spec.check)
        if problem:
            raise PolicyError(source, feature, key, problem)
        out[key] = (value, where)
    return out


def _resolve(
    layered: Mapping[str, tuple[Any, str]], source: str, feature: str, name: str
) -> FeaturePolicy:
    """Cross-key checks on the merged values, then the FeaturePolicy.

    A comparator- or resolution-specific key is checked against the merged comparator or
    resolution (which may come from ``[defaults]``), and only where the feature set it.
    """

    def fail(key: str, reason: str) -> PolicyError:
        origin = layered[key][1] if key in layered else ""
        note = f" (set in {origin})" if origin in (DEFAULTS_LOCATION, _BUILTIN) else ""
        return PolicyError(source, feature, key, reason + note)

    value = {key: v for key, (v, _) in layered.items()}
    if feature != DEFAULTS_LOCATION:
        for key, (_, origin) in layered.items():
            applies = KEYS[key].applies
            if origin == _OWN and applies and value[applies[0]] != applies[1]:
                actual = value[applies[0]]
                raise fail(key, f"applies only to {applies[0]} {applies[1]!r}, not {actual!r}")
    comparator = Comparator(value["comparator"])
    if comparator is not Comparator.SCORE and value["tolerance"] > 1:
        raise fail(
            "tolerance",
            f"is a disagreement rate for comparator {comparator.value!r}: must be between 0 "
            f"and 1 (got {value['tolerance']!r})",
        )
    resolution = Resolution(value["resolution"])
    reference = None
    if "reference_variant" in value:
        try:
            reference = Variant.parse(value["reference_variant"])
        except ValueError as err:
            raise fail("reference_variant", str(err)) from err
    if resolution is Resolution.REFERENCE and reference is None:
        raise fail("reference_variant", "required when resolution is 'reference'")
    fallback = value["reference_fallback"]
    return FeaturePolicy(
        feature=name,
        comparator=comparator,
        tolerance=value["tolerance"],
        topk_min_overlap=value["topk_min_overlap"],
        max_disagreement_rate=value["max_disagreement_rate"],
        window_s=value["window_s"],
        min_shared_inputs=value["min_shared_inputs"],
        resolution=resolution,
        reference_variant=reference,
        reference_fallback=None if fallback == "none" else Resolution(fallback),
        max_versions_behind=value["max_versions_behind"],
        max_days_behind=value["max_days_behind"],
        latency_budget_ms=value["latency_budget_ms"],
        latency_budget_ms_by_tier=MappingProxyType(
            {str(parse_tier(t)): float(v) for t, v in value["latency_budget_ms_by_tier"].items()}
        ),
    )
