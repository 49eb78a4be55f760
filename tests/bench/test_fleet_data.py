"""The synthetic fleet generator keeps the promises its docstring makes."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from bench import fleet_data as fd
from parallax.config import StoreSettings
from reconciler.variants import Variant
from store import open_writer

SPANS = 20_000
APPENDED = 1_000


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    """A 20k-span lake in several commits, then 1k appended.

    Yields (connection, fleet before, fleet after, spans before the append).
    """
    settings = StoreSettings(path=str(tmp_path_factory.mktemp("fleet") / "lake"))
    with open_writer(settings) as writer:
        before = fd.generate(writer.con, SPANS, nodes=40, chunk_rows=6_000)
        counts = writer.con.execute("SELECT count(*) FROM spans").fetchone()[0]
        after = fd.append(writer.con, before, APPENDED, chunk_rows=600)
        yield writer.con, before, after, counts


def test_the_lake_holds_exactly_the_spans_asked_for_with_unique_hex_ids(lake):
    con, before, after, first_count = lake
    assert first_count == before.spans == SPANS
    assert after.spans == SPANS + APPENDED
    row = con.execute(
        """
        SELECT count(*), count(DISTINCT trace_id), count(DISTINCT span_id),
               bool_and(regexp_full_match(trace_id, '[0-9a-f]{32}')),
               bool_and(regexp_full_match(span_id, '[0-9a-f]{16}')),
               bool_and(regexp_full_match(input_fingerprint, '[0-9a-f]{32}'))
        FROM spans
        """
    ).fetchone()
    assert row == (after.spans, after.spans, after.spans, True, True, True)


def test_every_span_is_a_valid_inference_for_the_view(lake):
    con, _, after, _ = lake
    row = con.execute(
        """
        SELECT count(*), count(feature), count(model_name), count(model_version),
               count(quantization), count(hardware_tier), count(node_id), count(resource_id),
               bool_and(end_time >= start_time), bool_and(ingested_at >= end_time),
               bool_and(name = 'inference' AND operation = 'predict'),
               bool_and(duration_ms > 0), count(*) FILTER (WHERE cold_start)
        FROM inferences
        """
    ).fetchone()
    n = after.spans
    assert row[:8] == (n, n, n, n, n, n, n, n)
    assert row[8:12] == (True, True, True, True)
    assert 0 < row[12] < n * 0.02
    outputs = dict(
        con.execute(
            """
            SELECT feature, count(*) FILTER (WHERE status_code = 'unset' AND CASE feature
                WHEN 'fraud-scoring' THEN output_label IN ('fraud', 'legit')
                    AND (output_score >= 0.5) = (output_label = 'fraud')
                WHEN 'product-recs' THEN len(list_distinct(output_topk)) = 10
                ELSE output_score BETWEEN 0 AND 1 END) / count(*)
            FROM spans GROUP BY feature
            """
        ).fetchall()
    )
    assert set(outputs) == set(after.features)
    assert all(share > 0.99 for share in outputs.values())  # 0.1% errors have no output


def test_at_least_six_variants_per_feature_that_the_reconciler_can_parse(lake):
    con, _, after, _ = lake
    rows = con.execute(
        "SELECT DISTINCT feature, concat_ws(' ', model_name, model_version, quantization, "
        "hardware_tier, accelerator) FROM spans"
    ).fetchall()
    for feature in after.features:
        seen = {text for f, text in rows if f == feature}
        assert len(seen) >= 6
        assert seen == {v.text for v in after.variants(feature)}
        assert all(str(Variant.parse(text)) == text for text in seen)


def test_about_30_percent_of_inputs_are_answered_by_several_variants(lake):
    con, before, _, _ = lake
    share, spread = con.execute(
        f"""
        WITH groups AS (
            SELECT input_fingerprint, count(DISTINCT (model_version, quantization, hardware_tier))
                AS variants, max(start_time) - min(start_time) AS spread
            FROM spans WHERE batch_seq <= {before.commits} GROUP BY ALL
        )
        SELECT avg((variants >= 2)::INT), max(spread) FILTER (WHERE variants >= 2) FROM groups
        """
    ).fetchone()
    assert share == pytest.approx(0.30, abs=0.02)
    assert spread <= timedelta(minutes=5)


def test_late_spans_arrive_hours_after_they_started_some_in_later_commits(lake):
    con, before, _, _ = lake
    late, out_of_order = con.execute(
        f"""
        WITH commits AS (
            SELECT batch_seq, max(max(start_time)) OVER (
                ORDER BY batch_seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING
            ) AS committed_before
            FROM spans GROUP BY batch_seq
        )
        SELECT count(*), count(*) FILTER (WHERE committed_before > end_time)
        FROM spans JOIN commits USING (batch_seq)
        WHERE ingested_at - end_time > INTERVAL 1 HOUR AND batch_seq <= {before.commits}
        """
    ).fetchone()
    assert late == before.late_spans
    assert late == pytest.approx(SPANS * 0.02, rel=0.25)
    assert out_of_order > 0  # committed after spans that started later: truly late


def test_append_adds_late_spans_and_reanswers_of_existing_inputs(lake):
    con, before, after, _ = lake
    old_end = before.end
    reopened, dated_back, new_range = con.execute(
        f"""
        WITH old AS (SELECT DISTINCT input_fingerprint FROM spans
                     WHERE batch_seq <= {before.commits})
        SELECT count(*) FILTER (WHERE input_fingerprint IN (SELECT * FROM old)),
               count(*) FILTER (WHERE input_fingerprint NOT IN (SELECT * FROM old)
                                AND start_time < ?::TIMESTAMPTZ - INTERVAL 1 HOUR),
               max(start_time) <= ?::TIMESTAMPTZ + INTERVAL 6 MINUTE
        FROM spans WHERE batch_seq > {before.commits}
        """,
        [old_end, after.end],
    ).fetchone()
    assert reopened == after.reanswers == round(APPENDED * 0.05)
    assert dated_back > APPENDED * 0.03
    assert new_range
    assert after.commits > before.commits
    assert after.end > old_end


def test_every_node_has_inventory_heartbeats_and_a_resource(lake):
    con, _, after, _ = lake
    nodes, with_models, staged = con.execute(
        "SELECT count(*), count(*) FILTER (WHERE len(models) >= 3), "
        "count(*) FILTER (WHERE list_bool_or([NOT m.loaded FOR m IN models])) FROM nodes"
    ).fetchone()
    assert nodes == after.nodes == 40
    assert with_models == nodes and 0 < staged < nodes
    beats, last = con.execute("SELECT count(*), max(received_at) FROM node_heartbeats").fetchone()
    assert beats >= nodes * 24 * 7
    assert last <= after.end
    missing = con.execute(
        "SELECT count(*) FROM spans WHERE resource_id NOT IN (SELECT resource_id FROM resources)"
    ).fetchone()[0]
    assert missing == 0
    ledger = con.execute("SELECT count(DISTINCT batch_seq) FROM ingested_batches").fetchone()[0]
    assert ledger == after.commits


def test_a_seed_gives_the_same_rows_whatever_the_chunk_size(lake, tmp_path):
    con, before, _, _ = lake
    query = "SELECT * EXCLUDE (batch_seq) FROM spans WHERE batch_seq <= ? ORDER BY trace_id"
    with open_writer(StoreSettings(path=str(tmp_path / "again"))) as writer:
        again = fd.generate(writer.con, SPANS, nodes=40, chunk_rows=100_000)
        rows = writer.con.execute(query, [again.commits]).fetchall()
    assert again.commits == 1 < before.commits
    assert rows == con.execute(query, [before.commits]).fetchall()


def test_another_seed_gives_other_data():
    def sample(seed: int) -> fd.Block:
        fleet = fd.GeneratedFleet(seed, 40, 0.3, fd.DEFAULT_START, fd.DEFAULT_START, 0, 0, 0, 0, 0)
        ctx = fd._context(fleet)
        counts = fd._plan(ctx, 0, 5_000)
        ctx.segments = [fd.Segment(0, len(counts), 0, 7 * 86400 * fd.US)]
        return fd._input_spans(ctx, 0, counts, 0)

    first, again, other = sample(7), sample(7), sample(8)
    assert all(np.array_equal(first[k], again[k], equal_nan=True) for k in first)
    assert not np.array_equal(first["feature"], other["feature"][: len(first["feature"])])
    assert not np.array_equal(first["start"], other["start"][: len(first["start"])])


@pytest.mark.parametrize("feature", [f.name for f in fd.FEATURES])
def test_variants_disagree_with_the_reference_at_their_documented_rates(feature):
    """Every slot answers the same 40k inputs; compared as the reconciler compares them."""
    fleet = fd.GeneratedFleet(7, 40, 0.3, fd.DEFAULT_START, fd.DEFAULT_START, 0, 0, 0, 0, 0)
    ctx = fd._context(fleet)
    n = 40_000
    f = [x.name for x in fd.FEATURES].index(feature)

    def answers(slot: int, first_span: int) -> dict:
        return fd._assemble(
            ctx, np.arange(n, dtype=np.uint64), np.full(n, f, np.int8), np.full(n, slot, np.int8),
            np.zeros(n, np.int32), np.zeros(n, np.int64), first_span,
        )  # fmt: skip

    reference = answers(0, 0)
    for variant in fleet.variants(feature):
        expected = fd.expected_disagreement(feature, 0, variant.slot)
        assert expected == pytest.approx(variant.rate)
        rate = _disagreement(feature, reference, answers(variant.slot, n * (variant.slot + 1)))
        assert rate == pytest.approx(expected, abs=4 * np.sqrt(max(expected, 1e-3) / n))
    noisy = fd.NOISY_SLOT
    floor = _disagreement(feature, answers(noisy, 10**9), answers(noisy, 2 * 10**9))
    assert floor == pytest.approx(fd.expected_disagreement(feature, noisy, noisy), abs=0.01)


def _disagreement(feature: str, a: dict, b: dict) -> float:
    """Share of inputs both answered (no error) on which the answers disagree."""
    ok = ~a["error"] & ~b["error"]
    if feature == "fraud-scoring":
        differ = a["label"] != b["label"]
    elif feature == "eta-regression":
        differ = np.abs(a["score"] - b["score"]) > 0.02
    else:
        shared = (a["items"][:, :, None] == b["items"][:, None, :]).sum(axis=(1, 2))
        differ = shared / fd.TOPK < 0.8
    return float(np.mean(differ[ok]))


def test_generate_refuses_a_lake_that_already_has_spans(lake):
    con, _, _, _ = lake
    with pytest.raises(ValueError, match="empty"):
        fd.generate(con, 100, nodes=20)


def test_the_description_round_trips_through_json(tmp_path, lake):
    _, _, after, _ = lake
    after.save(tmp_path / "fleet.json")
    assert fd.GeneratedFleet.load(tmp_path / "fleet.json") == after
