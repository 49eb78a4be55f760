"""Orders the SQL cannot compute: version order (parallax.versions) and the policies'
precision order and reference matching, loaded as small temporary tables.

``rc_variant_rank``: per (feature, variant) answering a recomputed group — its precision
rank, its version's place in the feature's version order (larger is newer) and whether
it matches the feature's reference variant. ``rc_version_rank``: per (feature, version in
use) — 0 for the newest, 1 for the next, ... (versions equal under the order share a rank).
"""

from __future__ import annotations

from itertools import groupby

import duckdb

from parallax.conventions import HardwareTier, Quantization
from parallax.versions import version_key
from reconciler.policies import Policies
from reconciler.variants import Variant, precision_rank


def load_variant_ranks(con: duckdb.DuckDBPyConnection, policies: Policies) -> None:
    """Create ``rc_variant_rank`` for the variants in ``rc_answers``."""
    rows = con.execute(
        "SELECT DISTINCT feature, variant, model_name, model_version, quantization, "
        "hardware_tier, accelerator FROM rc_answers"
    ).fetchall()
    versions: dict[str, set[str]] = {}
    for feature, _, _, version, *_ in rows:
        versions.setdefault(feature, set()).add(version or "")
    order = {feature: _ascending_places(found) for feature, found in versions.items()}
    ranked = [
        (
            feature,
            variant,
            _precision(quantization),
            order[feature][version or ""],
            _is_reference(policies, feature, model, version, quantization, tier, accelerator),
        )
        for feature, variant, model, version, quantization, tier, accelerator in rows
    ]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rc_variant_rank (feature VARCHAR, variant VARCHAR, "
        "precision_rank INTEGER, version_order INTEGER, is_reference BOOLEAN)"
    )
    if ranked:
        con.executemany("INSERT INTO rc_variant_rank VALUES (?, ?, ?, ?, ?)", ranked)


def load_version_ranks(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``rc_version_rank`` from ``rc_versions_in_use``: 0 for each feature's newest."""
    rows = con.execute("SELECT feature, model_version FROM rc_versions_in_use").fetchall()
    versions: dict[str, set[str]] = {}
    for feature, version in rows:
        versions.setdefault(feature, set()).add(version)
    ranked = []
    for feature, found in versions.items():
        places = _ascending_places(found)
        newest = max(places.values())
        ranked += [(feature, version, newest - place) for version, place in places.items()]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE rc_version_rank "
        "(feature VARCHAR, model_version VARCHAR, version_rank INTEGER)"
    )
    if ranked:
        con.executemany("INSERT INTO rc_version_rank VALUES (?, ?, ?)", ranked)


def _ascending_places(versions: set[str]) -> dict[str, int]:
    """0 for the oldest version, counting up; versions equal under version_key share a place."""
    ordered = sorted(versions, key=version_key)
    places = {}
    for place, (_, same) in enumerate(groupby(ordered, key=version_key)):
        places.update(dict.fromkeys(same, place))
    return places


def _precision(quantization: str) -> int:
    try:
        return precision_rank(Quantization(quantization))
    except ValueError:  # 'unknown': as imprecise as 'other'
        return precision_rank(Quantization.OTHER)


def _is_reference(
    policies: Policies,
    feature: str,
    model: str | None,
    version: str | None,
    quantization: str,
    tier: str,
    accelerator: str,
) -> bool:
    reference = policies.for_feature(feature).reference_variant
    if reference is None or not model or not version:
        return False
    try:
        variant = Variant(
            model, version, Quantization(quantization), HardwareTier(tier), accelerator
        )
    except ValueError:  # unknown quantization or tier, or spaces: cannot be the reference
        return False
    return reference.matches(variant)
