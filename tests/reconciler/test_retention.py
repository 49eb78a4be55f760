"""Retention deletes spans the reconciler has seen: its incremental runs still end where
a rebuild from the remaining spans ends (reconciler/expiry.py)."""

from __future__ import annotations

import random
from datetime import timedelta

from parallax.config import StoreSettings
from store.maintenance import run_maintenance
from store.retention import apply_retention, retention_policy
from tests.reconciler.fleet import T0
from tests.reconciler.test_incremental import DERIVED_TABLES, RULES, VARIANTS

DAY = 86_400
TWO_DAYS = retention_policy(StoreSettings(retention_days=2, ledger_retention_days=2))


def spans_of_day(fleet, rng: random.Random, day: int, count: int) -> list[dict]:
    """Spans of ``day`` (days after T0) over 30 inputs per feature that recur every day,
    so groups straddle the retention cut-off; a few started days earlier (late)."""
    spans = []
    for _ in range(count):
        feature = rng.choice(["fraud", "eta", "recs"])
        item = rng.randrange(30)
        late_by = rng.choice([0, 0, 0, 0, 1, 3]) * DAY
        at = day * DAY + item * 60 + rng.uniform(0, 30) - late_by
        kwargs = {
            "fraud": {"label": rng.choice(["fraud", "legit", "legit"])},
            "eta": {"score": round(rng.uniform(0.3, 0.5), 3)},
            "recs": {"topk": rng.sample([f"i{n}" for n in range(12)], 10)},
        }[feature]
        spans.append(
            fleet.answer(
                feature, f"{feature}-{item}", rng.choice(VARIANTS), at=max(at, 0),
                node=f"node-{rng.randrange(6)}", **kwargs,
            )
        )  # fmt: skip
    return spans


def derived(fleet) -> dict[str, list[tuple]]:
    def rounded(value):
        return round(value, 9) if isinstance(value, float) else value

    return {
        table: [
            tuple(map(rounded, row)) for row in fleet.rows(f"SELECT * FROM {table} ORDER BY ALL")
        ]
        for table in [*DERIVED_TABLES, "variants"]
    }


def test_incremental_runs_across_retention_equal_a_rebuild_of_what_remains(fleet):
    rng = random.Random(1)
    for day in range(5):
        now = T0 + timedelta(days=day, hours=20)
        fleet.commit(spans_of_day(fleet, rng, day, 150))
        if day % 2:
            fleet.reconcile(RULES, as_of=now)  # other days: new spans and a deletion in one run
        deleted = apply_retention(fleet.lake, TWO_DAYS, now)
        if day >= 3:
            assert deleted["spans"] > 0
        fleet.commit(spans_of_day(fleet, rng, day, 40))  # late spans may predate the cut-off
        fleet.reconcile(RULES, as_of=now)
    cutoff = T0 + timedelta(days=2)
    assert fleet.rows("SELECT count(*) FROM spans WHERE start_time < ?", cutoff)[0][0] > 0
    incremental = derived(fleet)

    fleet.reconcile(RULES, full=True, as_of=now)

    assert derived(fleet) == incremental


def test_groups_with_no_span_left_leave_every_table(fleet):
    fp32, int8 = "gbm 2.3 fp32 cloud", "gbm 2.3 int8 device"
    fleet.commit([fleet.answer("fraud", "old", v, at=60, label="legit") for v in (fp32, int8)])
    fleet.commit([fleet.answer("fraud", "new", fp32, at=5 * DAY, label="legit")])
    fleet.reconcile(RULES, as_of=T0 + timedelta(days=5))
    assert fleet.rows("SELECT count(*) FROM comparisons WHERE input_fingerprint = 'old'") == [(1,)]

    apply_retention(fleet.lake, TWO_DAYS, T0 + timedelta(days=5))
    report = fleet.reconcile(RULES, as_of=T0 + timedelta(days=5))

    assert (report.mode, report.new_spans, report.groups_recomputed) == ("incremental", 0, 1)
    assert fleet.rows("SELECT input_fingerprint FROM reconciled") == [("new",)]
    assert fleet.rows("SELECT count(*) FROM comparisons") == [(0,)]
    assert fleet.rows("SELECT variant FROM variants") == [(fp32,)]
    assert fleet.rows("SELECT variant, sum(answers) FROM output_histograms GROUP BY ALL") == [
        (fp32, 1)
    ]
    assert fleet.rows("SELECT min(hour) FROM traffic_hourly") == [(T0 + timedelta(days=5),)]


def _deletion_after_a_run(fleet) -> None:
    fleet.commit([fleet.answer("fraud", "old", "gbm 2.3 fp32 cloud", at=60, label="legit")])
    fleet.commit([fleet.answer("fraud", "new", "gbm 2.3 fp32 cloud", at=5 * DAY, label="x")])
    fleet.reconcile(RULES, as_of=T0 + timedelta(days=5))
    fleet.commit([fleet.answer("fraud", "new", "gbm 2.3 int8 device", at=5 * DAY, label="x")])
    # Every snapshot but the newest and the watermark expires (retention 0 s) in the pass
    # that deletes 'old'.
    run_maintenance(fleet.lake, 0.0, TWO_DAYS, now=T0 + timedelta(days=5))


def test_snapshot_expiry_keeps_the_watermark_so_the_next_run_stays_incremental(fleet):
    _deletion_after_a_run(fleet)

    report = fleet.reconcile(RULES, as_of=T0 + timedelta(days=5))

    assert report.mode == "incremental"
    assert fleet.rows("SELECT input_fingerprint, variants FROM reconciled") == [("new", 2)]


def test_a_run_whose_snapshot_has_expired_rebuilds_after_a_deletion(fleet):
    _deletion_after_a_run(fleet)
    (watermark,) = fleet.rows("SELECT max(to_snapshot) FROM reconcile_runs")[0]
    fleet.con.execute("CALL ducklake_expire_snapshots('lake', versions => [?])", [watermark])

    report = fleet.reconcile(RULES, as_of=T0 + timedelta(days=5))

    assert report.mode == "full"
    assert fleet.rows("SELECT input_fingerprint, variants FROM reconciled") == [("new", 2)]
