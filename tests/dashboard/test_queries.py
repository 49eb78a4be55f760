"""The page queries called directly (as bench/dashboard.py does), without Streamlit."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dashboard import queries
from dashboard.queries import Scope
from store.lake import connect
from tests.dashboard.fixture_lake import AS_OF, INT4, REFERENCE

HOUR = Scope(AS_OF - timedelta(hours=1), AS_OF)


@pytest.fixture
def con(fleet_lake):
    connection = connect(fleet_lake, read_only=True)
    yield connection
    connection.close()


@pytest.mark.parametrize(
    ("length", "bucket"),
    [
        (timedelta(minutes=15), timedelta(minutes=1)),
        (timedelta(hours=1), timedelta(minutes=1)),
        (timedelta(hours=6), timedelta(minutes=5)),
        (timedelta(days=1), timedelta(minutes=60)),
        (timedelta(days=7), timedelta(hours=6)),
        (timedelta(days=30), timedelta(days=1)),
    ],
)
def test_a_window_is_cut_into_at_most_72_buckets_of_a_standard_size(length, bucket):
    assert Scope(AS_OF - length, AS_OF).bucket() == bucket


def test_filter_options_list_every_feature_and_region(con):
    options = queries.filter_options(con)
    assert sorted(options[options.kind == "feature"].value) == ["churn", "fraud-scoring"]
    assert sorted(options[options.kind == "region"].value) == ["eu-west", "us-east"]


def test_filter_values_are_parameters_not_sql(con):
    hostile = Scope(HOUR.start, HOUR.end, feature="x' OR '1'='1", region="x' OR '1'='1")
    assert queries.span_rate(con, hostile).empty
    assert queries.fleet(con, hostile, 90.0).empty
    assert queries.variant_pairs(con, hostile).empty


def test_span_rate_counts_this_window_and_the_one_before(con):
    rate = queries.span_rate(con, Scope(AS_OF - timedelta(hours=3), AS_OF))
    assert rate[rate.current].spans.sum() == 1080  # 980 fraud-scoring + 100 churn
    assert rate[~rate.current].spans.sum() == 0


def test_node_counts_at_the_end_and_start_of_the_window(con):
    counts = queries.node_counts(con, HOUR, 90.0).set_index("status")
    assert counts.to_dict() == {
        "end": {"online": 4, "stale": 1, "offline": 1},
        "start": {"online": 5, "stale": 0, "offline": 1},
    }


def test_divergent_inputs_of_one_pair(con):
    scope = Scope(HOUR.start, HOUR.end, feature="fraud-scoring")
    inputs = queries.divergent_inputs(con, scope, REFERENCE, INT4, limit=5)
    assert len(inputs) == 5 and set(inputs.node_a) == {"cloud-01"}


def test_latency_over_time_has_one_row_per_bucket_tier_and_percentile(con):
    frame = queries.latency_over_time(con, HOUR)
    assert set(frame.percentile) == {"p50", "p95", "p99"}
    assert set(frame[frame.tier == "cloud"].ms) == {8.0}


def test_inventory_counts_nodes_per_loaded_version(con):
    inventory = queries.inventory_versions(con, Scope(AS_OF - timedelta(hours=6), AS_OF))
    fraud = inventory[inventory.feature == "fraud-scoring"]
    assert set(fraud.model_version) == {"2.1", "2.2", "2.3"}
    assert fraud.groupby("bucket").nodes.sum().max() <= 6
