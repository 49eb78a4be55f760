"""Every page under AppTest against the fixture lake: its numbers, its filters, its empty state."""

from __future__ import annotations

import pytest

from dashboard.app import EMPTY_LAKE
from parallax.config import StoreSettings
from tests.dashboard.fixture_lake import INT4, REFERENCE

INT8_22 = "fraud-gbm 2.2 int8 device npu"

PAGES = ["overview", "fleet", "skew", "divergence", "latency", "sql"]


def metrics(app) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in app.metric}


def table(app, index: int = 0):
    return app.dataframe[index].value


def test_overview_shows_node_statuses_traffic_divergence_and_findings(fleet_lake, open_page):
    shown = metrics(open_page(fleet_lake))
    assert shown["Nodes online"] == ("4", "-1")  # edge-03 fell silent in the last hour
    assert shown["Nodes stale"] == ("1", "1")
    assert shown["Nodes offline"] == ("1", "0")
    assert shown["Spans per minute"][0] == "16.3"  # 980 spans in 60 minutes
    assert shown["Divergence rate"][0] == "5.50%"  # 88 of 1600 comparisons
    assert shown["Open critical"][0] == "1"
    assert shown["Open warning"][0] == "4"  # one of them: int4's latency over budget
    assert shown["Skew violations"][0] == "1"


def test_overview_links_each_figure_to_its_page(fleet_lake, open_page):
    app = open_page(fleet_lake)
    assert {link.proto.page for link in app.get("page_link")} == {
        "fleet", "latency", "divergence", "skew",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("filters", "online", "spans_per_minute"),
    [
        ({"region": "eu-west"}, "3", "10.7"),  # near-01, edge-01, edge-02: 640 spans
        ({"tier": "device"}, "2", "9.0"),  # edge-01, edge-02 online, 540 spans
        ({"feature": "churn", "range": "6h"}, "2", "0.3"),  # 100 spans in 6 hours
    ],
)
def test_overview_numbers_follow_the_filters(
    fleet_lake, open_page, filters, online, spans_per_minute
):
    shown = metrics(open_page(fleet_lake, **filters))
    assert shown["Nodes online"][0] == online
    assert shown["Spans per minute"][0] == spans_per_minute


def test_fleet_lists_every_node_with_silent_ones_first(fleet_lake, open_page):
    app = open_page(fleet_lake, "fleet")
    nodes = table(app)
    assert list(nodes.node_id[:2]) == ["edge-04", "edge-03"]
    assert dict(zip(nodes.node_id, nodes.status, strict=True)) == {
        "edge-04": "offline", "edge-03": "stale", "cloud-01": "online", "edge-01": "online",
        "edge-02": "online", "near-01": "online",
    }  # fmt: skip
    edge02 = nodes.set_index("node_id").loc["edge-02"]
    assert (edge02.pending_batches, edge02.oldest_pending_age_s) == (12, 340.0)
    assert nodes.set_index("node_id").loc["edge-04"].dropped_spans == 1500
    assert nodes.set_index("node_id").loc["near-01"].clock_offset_ms == 850.0
    assert nodes.set_index("node_id").loc["cloud-01"].loaded_models == (
        "fraud-gbm 2.3 fp32, churn-lr 1.0 fp32"
    )


def test_fleet_filters_by_region_and_tier(fleet_lake, open_page):
    assert sorted(table(open_page(fleet_lake, "fleet", region="eu-west")).node_id) == [
        "edge-01", "edge-02", "near-01",
    ]  # fmt: skip
    assert list(table(open_page(fleet_lake, "fleet", tier="cloud")).node_id) == ["cloud-01"]


def test_fleet_status_is_judged_at_the_end_of_the_window(fleet_lake, open_page):
    app = open_page(fleet_lake, "fleet", until="2026-01-15T11:00")
    statuses = dict(zip(table(app).node_id, table(app).status, strict=True))
    assert statuses["edge-03"] == "online" and statuses["edge-04"] == "offline"


def test_fleet_search_box_narrows_the_table(fleet_lake, open_page):
    app = open_page(fleet_lake, "fleet")
    app.text_input[0].input("us-east").run()
    assert sorted(table(app).node_id) == ["cloud-01", "edge-03", "edge-04"]


def test_skew_shows_the_node_behind_tolerance_and_version_shares(fleet_lake, open_page):
    app = open_page(fleet_lake, "skew", feature="fraud-scoring")
    assert metrics(app)["Nodes behind tolerance"][0] == "1"
    behind = table(app, 0)
    assert list(behind.node_id) == ["edge-04"]
    assert (behind.model_version[0], behind.versions_behind[0]) == ("2.1", 2)
    shares = table(app, 1).set_index("model_version")
    assert shares.loc["2.3"].traffic_spans == 880 and shares.loc["2.2"].traffic_spans == 100
    assert shares.loc["2.1"].nodes == 1
    assert len(app.get("vega_lite_chart")) == 2  # by traffic and by node inventory


def test_skew_without_the_lagging_region_has_no_violation(fleet_lake, open_page):
    app = open_page(fleet_lake, "skew", region="eu-west")
    assert metrics(app)["Nodes behind tolerance"][0] == "0"


def test_divergence_shows_pairs_with_intervals_and_the_noise_floor(fleet_lake, open_page):
    app = open_page(fleet_lake, "divergence", feature="fraud-scoring")
    pairs = table(app, 0).set_index(["variant_a", "variant_b"])
    diverging = pairs.loc[(REFERENCE, INT4)]
    assert (diverging.shared_inputs, diverging.disagreements) == (200, 20)
    assert diverging.verdict == "diverging"
    assert diverging.rate_low < 0.1 < diverging.rate_high
    noise = pairs.loc[(INT4, INT4)]
    assert (noise.verdict, noise.disagreement_rate) == ("noise floor", 0.05)
    assert len(app.get("vega_lite_chart")) == 1  # the heatmap


def test_divergence_drill_down_shows_both_outputs_and_trace_links(fleet_lake, open_page):
    app = open_page(
        fleet_lake, "divergence", feature="fraud-scoring", pair=f"{REFERENCE} vs {INT4}"
    )
    inputs = table(app, 1)
    assert len(inputs) == 20
    assert set(inputs.input_fingerprint) == {f"fp-{i:03d}" for i in range(0, 200, 10)}
    row = inputs.set_index("input_fingerprint").loc["fp-010"]
    assert (row.output_a, row.output_b) == ("legit", "fraud")
    assert (row.node_a, row.node_b) == ("cloud-01", "edge-02")
    assert row.trace_a.startswith("sql?") and row.trace_id_a in row.trace_a


def test_divergence_picks_the_most_diverging_feature_without_a_filter(fleet_lake, open_page):
    app = open_page(fleet_lake, "divergence")
    assert app.selectbox(key="pair_feature").value == "fraud-scoring"


def test_latency_shows_the_reconcilers_budget_check_with_the_variant_over_first(
    fleet_lake, open_page
):
    app = open_page(fleet_lake, "latency")
    assert metrics(app)["Variants over their latency budget"][0] == "1"
    checks = table(app, 0)
    assert list(checks.verdict) == [
        "over budget", "not enough data", "within budget", "within budget", "within budget",
    ]  # fmt: skip
    over = checks.iloc[0]
    assert (over.variant, over.spans, over.cold_starts, over.budget_ms) == (INT4, 239, 1, 30.0)
    assert 41.0 <= over.p99_ms <= 41.0 * 2 ** (1 / 16)  # an upper bound within one bucket
    assert checks.set_index("variant").loc[INT8_22, "spans"] == 99  # below 100: not judged


def test_latency_per_tier_and_variant_in_the_window(fleet_lake, open_page):
    app = open_page(fleet_lake, "latency")
    tiers = table(app, 1).set_index("tier")
    assert tiers.loc["cloud"].p99_ms == 8.0 and tiers.loc["near-edge"].p50_ms == 15.0
    assert (tiers.loc["device"].p50_ms, tiers.loc["device"].p95_ms) == (22.0, 41.0)
    variants = table(app, 2).set_index("variant")
    assert variants.loc[INT4].p99_ms == 41.0 and variants.loc[REFERENCE].p99_ms == 8.0
    cold = table(app, 3)
    assert len(cold) == 5 and set(cold.p50_ms) == {900.0}  # each node's first inference


def test_latency_filtered_to_one_tier(fleet_lake, open_page):
    app = open_page(fleet_lake, "latency", tier="cloud")
    assert metrics(app)["Variants over their latency budget"][0] == "0"
    assert list(table(app, 0).tier) == ["cloud"]
    assert list(table(app, 1).tier) == ["cloud"]


def test_the_latency_finding_is_listed_with_the_others(fleet_lake, open_page):
    listed = table(open_page(fleet_lake, tier="device"))
    latency = listed[listed.kind == "latency over budget"]
    assert list(latency.subject) == [INT4]
    assert latency.detail.iloc[0].endswith(
        "239 warm spans slower since 2026-01-15 11:00 UTC; cold starts left out: 1"
    )


def test_sql_page_shows_a_query_from_the_url_and_runs_it_only_when_run_is_pressed(
    fleet_lake, open_page
):
    app = open_page(fleet_lake, "sql", q="SELECT node_id FROM nodes ORDER BY 1")
    assert app.text_area(key="q").value == "SELECT node_id FROM nodes ORDER BY 1"
    assert not app.dataframe and not app.error
    app.button(key="run").click().run()
    assert list(table(app).node_id) == [
        "cloud-01", "edge-01", "edge-02", "edge-03", "edge-04", "near-01",
    ]  # fmt: skip
    assert len(app.get("download_button")) == 1


def test_sql_page_caps_the_rows(fleet_lake, open_page, monkeypatch):
    monkeypatch.setenv("PARALLAX_DASHBOARD_QUERY_ROW_LIMIT", "7")
    app = open_page(fleet_lake, "sql", q="SELECT * FROM spans")
    app.button(key="run").click().run()
    assert len(table(app)) == 7
    assert any("dashboard.query_row_limit" in c.value for c in app.caption)


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        ("DELETE FROM spans", "never writes"),
        ("INSERT INTO nodes (node_id) VALUES ('x')", "never writes"),
        ("ATTACH '/tmp/elsewhere.duckdb' AS other", "ATTACH, COPY"),
        ("COPY spans TO '/tmp/spans.csv'", "ATTACH, COPY"),
    ],
)
def test_sql_page_refuses_writes_with_a_clear_message(fleet_lake, open_page, statement, says):
    app = open_page(fleet_lake, "sql", q=statement)
    app.button(key="run").click().run()
    assert says in app.error[0].value


def test_sql_page_loads_an_example_query(fleet_lake, open_page):
    app = open_page(fleet_lake, "sql")
    app.selectbox(key="example").select("Ingest health").run()
    assert app.text_area(key="q").value.startswith("SELECT recorded_at")


@pytest.mark.parametrize("page", PAGES)
def test_an_empty_lake_shows_the_empty_state_on_every_page(empty_lake, open_page, page):
    app = open_page(empty_lake, page)
    assert EMPTY_LAKE in [info.value for info in app.info]


@pytest.mark.parametrize("page", ["overview", "sql"])
def test_a_missing_lake_says_how_to_create_it(tmp_path, open_page, page):
    app = open_page(StoreSettings(path=str(tmp_path / "nowhere")), page)
    assert "parallax server" in app.info[0].value


def test_fleet_filtered_by_feature_keeps_the_nodes_that_serve_it(fleet_lake, open_page):
    nodes = table(open_page(fleet_lake, "fleet", feature="churn"))
    assert sorted(nodes.node_id) == ["cloud-01", "near-01"]


@pytest.mark.parametrize("page", ["latency", "divergence"])
def test_a_window_without_data_says_so_instead_of_drawing_nothing(fleet_lake, open_page, page):
    app = open_page(fleet_lake, page, range="15m", until="2026-01-10T00:00")
    assert any("Widen the time range" in info.value for info in app.info)


def test_skew_in_a_window_without_traffic_still_shows_the_latest_shares(fleet_lake, open_page):
    app = open_page(fleet_lake, "skew", range="15m", until="2026-01-10T00:00")
    assert "No traffic in this window." in [info.value for info in app.info]
    assert len(app.dataframe) >= 2  # the violations and the version shares of the last run


@pytest.mark.parametrize("page", ["overview", "sql"])
def test_settings_are_resolved_once_per_script_run(fleet_lake, open_page, monkeypatch, page):
    import parallax.config

    resolved = []
    real = parallax.config.load_settings

    def counting(*args, **kwargs):
        resolved.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(parallax.config, "load_settings", counting)
    app = open_page(fleet_lake, page)
    assert len(resolved) == 1
    app.run()
    assert len(resolved) == 2
