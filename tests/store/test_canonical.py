"""Canonical values: ingest, the lake's macros and the migration agree with parallax.conventions."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pytest

from parallax import conventions as conv
from store.canonical import CANONICAL, canonical_columns
from store.ingest import convert
from store.lake import connect, open_writer
from store.schema import MIGRATIONS_DIR
from tests.otlp import export_request, inference_span

QUANTIZATION, TIER = CANONICAL

# Every spelling the conventions know, in the shapes apps send them, and some they do not.
SPELLINGS = sorted(
    {
        shape
        for spelling in [*conv.quantization_spellings(), *conv.tier_spellings()]
        for shape in (spelling, spelling.upper(), f" {spelling.replace('-', '_').upper()}\t")
    }
    | {"", "weird", "Weird Tier", " mixed_Case ", "NEAR EDGE"}
)


def test_canonical_words_follow_the_conventions():
    assert conv.canonical_quantization(" FLOAT16 ") == "fp16"
    assert conv.canonical_quantization("int3") == "other"
    assert conv.canonical_tier("NEAR_EDGE") == "near-edge"
    assert conv.canonical_tier("datacenter") == "cloud"
    assert conv.canonical_tier(" Weird Tier") == "weird-tier"
    for spelling, quantization in conv.quantization_spellings().items():
        assert conv.canonical_quantization(spelling.upper()) == quantization.value
    for spelling, tier in conv.tier_spellings().items():
        assert conv.canonical_tier(spelling.upper()) == tier.value


def test_ingest_stores_the_canonical_word_and_the_spelling_where_it_differed():
    spans = [
        inference_span(attrs={conv.MODEL_QUANTIZATION: q, conv.HARDWARE_TIER: t})
        for q, t in (("INT8", "NEAR_EDGE"), ("int8", "device"), ("q4", "on-device"))
    ]
    parsed = convert.parse(export_request(spans).SerializeToString())
    table = convert.convert([convert.Incoming(parsed)]).table
    assert table.select(
        ["quantization", "quantization_as_sent", "hardware_tier", "hardware_tier_as_sent"]
    ).to_pylist() == [
        {"quantization": "int8", "quantization_as_sent": "INT8",
         "hardware_tier": "near-edge", "hardware_tier_as_sent": "NEAR_EDGE"},
        {"quantization": "int8", "quantization_as_sent": None,
         "hardware_tier": "device", "hardware_tier_as_sent": None},
        {"quantization": "int4", "quantization_as_sent": "q4",
         "hardware_tier": "device", "hardware_tier_as_sent": "on-device"},
    ]  # fmt: skip


def test_an_absent_value_stays_null():
    words, as_sent = canonical_columns(pa.array([None, "FP16", None]), QUANTIZATION)
    assert words.to_pylist() == [None, "fp16", None]
    assert as_sent.to_pylist() == [None, "FP16", None]


@pytest.fixture
def writer(store_settings):
    with open_writer(store_settings) as lake:
        yield lake.con


def test_the_lake_macros_agree_with_the_conventions_on_every_spelling(writer):
    for rule in CANONICAL:
        found = writer.execute(
            f"SELECT s, {rule.macro}(s) FROM unnest($spellings) AS t(s)", {"spellings": SPELLINGS}
        ).fetchall()
        assert {s: word for s, word in found} == {s: rule.canonical(s) for s in SPELLINGS}
    assert writer.execute(
        "SELECT px_canonical_quantization(NULL), px_canonical_tier(NULL)"
    ).fetchone() == (None, None)


def test_the_variant_macro_spells_missing_parts_unknown(writer):
    assert writer.execute(
        "SELECT px_variant('fraud gbm', '2.3', 'int8', 'near-edge', 'jetson orin'), "
        "px_variant(NULL, '', NULL, NULL, '')"
    ).fetchone() == ("fraud_gbm 2.3 int8 near-edge jetson_orin", "unknown unknown unknown unknown")


def test_the_migration_rewrites_an_existing_lake(store_settings, tmp_path):
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < "0010":
            shutil.copy(path, before / path.name)
    with open_writer(store_settings, before) as lake:
        lake.con.execute(
            "INSERT INTO spans (trace_id, span_id, name, start_time, feature, model_name, "
            "model_version, quantization, hardware_tier, input_fingerprint, ingested_at) VALUES "
            "('t1', 's1', 'n', now(), 'fraud', 'gbm', '2.3', 'FLOAT16', 'NEAR_EDGE', 'x', now()), "
            "('t2', 's2', 'n', now(), 'fraud', 'gbm', '2.3', 'fp16', 'near-edge', 'x', now()), "
            "('t3', 's3', 'n', now(), 'fraud', 'gbm', '2.3', NULL, NULL, 'y', now())"
        )
    with open_writer(store_settings):
        pass
    reader = connect(store_settings)
    assert reader.execute(
        "SELECT quantization, quantization_as_sent, hardware_tier, hardware_tier_as_sent, variant "
        "FROM inferences ORDER BY trace_id"
    ).fetchall() == [
        ("fp16", "FLOAT16", "near-edge", "NEAR_EDGE", "gbm 2.3 fp16 near-edge"),
        ("fp16", None, "near-edge", None, "gbm 2.3 fp16 near-edge"),
        (None, None, None, None, "gbm 2.3 unknown unknown"),
    ]
    assert reader.execute("SELECT variant, hardware_tier FROM variants ORDER BY 1").fetchall() == [
        ("gbm 2.3 fp16 near-edge", "near-edge"),
        ("gbm 2.3 unknown unknown", "unknown"),
    ]


def test_the_fleet_migration_rewrites_the_tiers_nodes_reported(store_settings, tmp_path):
    fleet = next(MIGRATIONS_DIR.glob("*_canonical_fleet_tiers.sql"))
    before = tmp_path / "migrations"
    before.mkdir()
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name < fleet.name:
            shutil.copy(path, before / path.name)
    columns = "node_id, heartbeat_seq, hardware_tier"
    with open_writer(store_settings, before) as lake:
        for table, extra in (
            ("node_heartbeats", "received_at"),
            ("nodes", "first_seen_at, last_seen_at, heartbeat_count"),
        ):
            values = "now()" if table == "node_heartbeats" else "now(), now(), 1"
            lake.con.execute(
                f"INSERT INTO {table} ({columns}, {extra}) VALUES "
                f"('a', 1, 'NEAR_EDGE', {values}), ('b', 1, 'cloud', {values}), "
                f"('c', 1, NULL, {values}), ('d', 1, 'Moon Base', {values})"
            )
    with open_writer(store_settings):
        pass
    reader = connect(store_settings)
    for table in ("nodes", "node_heartbeats"):
        assert reader.execute(
            f"SELECT node_id, hardware_tier, hardware_tier_as_sent FROM {table} ORDER BY 1"
        ).fetchall() == [
            ("a", "near-edge", "NEAR_EDGE"),
            ("b", "cloud", None),
            ("c", None, None),
            ("d", "moon-base", "Moon Base"),
        ], table
