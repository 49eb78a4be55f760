"""The SQL page's engine: read-only, confined, a row cap, a time limit, examples from the docs."""

from __future__ import annotations

import pytest

from dashboard.examples import EXAMPLES
from dashboard.readonly_sql import QueryRefused, run_query


def test_a_query_returns_at_most_the_row_limit(fleet_lake):
    answer = run_query(fleet_lake, "SELECT * FROM spans", row_limit=5, timeout_s=30)
    assert answer.table.num_rows == 5 and answer.truncated


def test_a_small_result_is_whole(fleet_lake):
    answer = run_query(fleet_lake, "SELECT node_id FROM nodes", row_limit=100, timeout_s=30)
    assert answer.table.num_rows == 6 and not answer.truncated


def test_a_query_longer_than_the_time_limit_is_interrupted(fleet_lake):
    endless = "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = hash(a.range) % 7"
    with pytest.raises(QueryRefused, match=r"longer than 0\.2 s"):
        run_query(fleet_lake, endless, row_limit=10, timeout_s=0.2)


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        ("UPDATE spans SET name = 'x'", "never writes"),
        ("DROP TABLE nodes", "never writes"),
        ("CREATE TABLE copy AS SELECT * FROM nodes", "never writes"),
        ("ATTACH '/tmp/parallax-dashboard-scratch.duckdb' AS scratch", "ATTACH, COPY"),
        ("COPY (SELECT 1) TO '/tmp/parallax-dashboard-copy.csv'", "ATTACH, COPY"),
        ("SELECT * FROM read_csv('/etc/passwd')", "ATTACH, COPY"),
        ("SET enable_external_access = true", "locked"),
    ],
)
def test_statements_that_write_or_reach_outside_the_lake_are_refused(fleet_lake, statement, says):
    with pytest.raises(QueryRefused, match=says):
        run_query(fleet_lake, statement, row_limit=10, timeout_s=30)


def test_the_lake_is_unchanged_after_refused_writes(fleet_lake):
    with pytest.raises(QueryRefused):
        run_query(fleet_lake, "DELETE FROM nodes", row_limit=10, timeout_s=30)
    assert run_query(fleet_lake, "SELECT * FROM nodes", 10, 30).table.num_rows == 6


def test_a_syntax_error_is_duckdbs_message(fleet_lake):
    with pytest.raises(QueryRefused, match="syntax error"):
        run_query(fleet_lake, "SELEC 1", row_limit=10, timeout_s=30)


def test_every_saved_example_is_in_the_analysts_guide_and_runs(fleet_lake, repo_root):
    guide = (repo_root / "docs" / "analysts.md").read_text()
    for title, sql in EXAMPLES.items():
        assert f"-- {title}\n{sql}" in guide, title
        assert run_query(fleet_lake, sql, row_limit=10, timeout_s=30).table is not None
