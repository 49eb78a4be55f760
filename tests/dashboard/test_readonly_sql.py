"""The SQL page's engine: confined and read-only, with row, byte, memory and time limits."""

from __future__ import annotations

import re

import duckdb
import pytest

from dashboard.examples import EXAMPLES
from dashboard.readonly_sql import QueryRefused, run_query
from store import connect
from store.extensions import OFFLINE_CONFIG, extension_file
from tests.dashboard.fixture_lake import INT4, REFERENCE


def test_a_query_returns_at_most_the_row_limit(fleet_lake):
    answer = run_query(fleet_lake, "SELECT * FROM spans", row_limit=5)
    assert answer.table.num_rows == 5 and answer.truncated_by == "rows"


def test_a_small_result_is_whole(fleet_lake):
    answer = run_query(fleet_lake, "SELECT node_id FROM nodes", row_limit=100)
    assert answer.table.num_rows == 6 and not answer.truncated


def test_a_result_is_cut_at_the_byte_cap_as_well_as_the_row_cap(fleet_lake):
    wide = "SELECT repeat('x', 1000) AS padding FROM range(1000)"
    answer = run_query(fleet_lake, wide, row_limit=10_000, max_result_bytes=100_000)
    assert answer.truncated_by == "bytes"
    assert 50 < answer.table.num_rows < 100
    assert answer.table.nbytes <= 100_000


def test_a_query_longer_than_the_time_limit_is_stopped(fleet_lake):
    endless = "SELECT count(*) FROM range(100000000000) a WHERE a.range % 7 = hash(a.range) % 7"
    with pytest.raises(QueryRefused, match=r"longer than 3 s .*dashboard\.query_timeout_s"):
        run_query(fleet_lake, endless, timeout_s=3)


def test_a_query_past_the_memory_limit_is_stopped_with_a_clear_message(fleet_lake):
    hungry = "SELECT max(l) FROM (SELECT list(range) AS l FROM range(30000000))"
    with pytest.raises(QueryRefused, match="more memory than its limit") as refused:
        run_query(fleet_lake, hungry, memory_limit="100MB")
    assert "dashboard.sql_memory_limit" in str(refused.value)


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        ("UPDATE spans SET name = 'x'", "never writes"),
        ("DROP TABLE nodes", "never writes"),
        ("CREATE TABLE copy AS SELECT * FROM nodes", "never writes"),
        ("ATTACH '/tmp/parallax-dashboard-scratch.duckdb' AS scratch", "ATTACH, COPY"),
        ("COPY (SELECT 1) TO '/tmp/parallax-dashboard-copy.csv'", "ATTACH, COPY"),
        ("SELECT * FROM read_csv('/etc/passwd')", "ATTACH, COPY"),
        ("INSTALL httpfs", "ATTACH, COPY"),
        ("SET enable_external_access = true", "locked"),
        ("SELECT 1; DELETE FROM nodes", "never writes"),
    ],
)
def test_statements_that_write_or_reach_outside_the_lake_are_refused(fleet_lake, statement, says):
    with pytest.raises(QueryRefused, match=says):
        run_query(fleet_lake, statement)


def test_the_lake_is_unchanged_after_refused_writes(fleet_lake):
    with pytest.raises(QueryRefused):
        run_query(fleet_lake, "DELETE FROM nodes")
    assert run_query(fleet_lake, "SELECT * FROM nodes").table.num_rows == 6


def test_a_syntax_error_is_duckdbs_message(fleet_lake):
    with pytest.raises(QueryRefused, match="syntax error"):
        run_query(fleet_lake, "SELEC 1")


def test_every_saved_example_is_in_the_analysts_guide_and_runs(fleet_lake, repo_root):
    guide = (repo_root / "docs" / "analysts.md").read_text()
    for title, sql in EXAMPLES.items():
        assert f"-- {title}\n{sql}" in guide, title
        assert run_query(fleet_lake, sql, row_limit=10).table is not None


# What a stock DuckDB does before it can read the lake; store.connect (behind the runner)
# does the same, so the guide's queries run without these.
LAKE_SETUP = (duckdb.StatementType.LOAD, duckdb.StatementType.ATTACH, duckdb.StatementType.SET)


def test_every_query_in_the_analysts_guide_runs_read_only_on_a_real_lake(fleet_lake, repo_root):
    guide = (repo_root / "docs" / "analysts.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", guide, re.DOTALL)
    statements = [s for block in blocks for s in duckdb.extract_statements(block)]
    queries = [s.query.strip() for s in statements if s.type not in LAKE_SETUP]
    assert len(statements) - len(queries) == 4, "LOAD x2, ATTACH and USE of the stock DuckDB"
    assert len(queries) >= 10
    # One read-only connection, as `parallax sql` attaches the lake (the confined runner
    # costs a process per query; the saved examples above go through it).
    con = connect(fleet_lake, read_only=True)
    try:
        for query in queries:
            con.execute(query).to_arrow_table()
    finally:
        con.close()


def test_the_guides_variant_queries_answer_with_the_lakes_variants(fleet_lake, repo_root):
    guide = (repo_root / "docs" / "analysts.md").read_text()
    query = next(
        s.query
        for block in re.findall(r"```sql\n(.*?)```", guide, re.DOTALL)
        for s in duckdb.extract_statements(block)
        if "FROM variants WHERE feature = 'fraud-scoring'" in s.query
    )
    listed = run_query(fleet_lake, query).table.column("variant").to_pylist()
    assert REFERENCE in listed and INT4 in listed and len(listed) == 5


def test_the_guides_stock_duckdb_recipe_reads_the_lake(fleet_lake, repo_root):
    guide = (repo_root / "docs" / "analysts.md").read_text()
    recipe = next(b for b in re.findall(r"```sql\n(.*?)```", guide, re.DOTALL) if "ATTACH" in b)
    con = duckdb.connect(config=OFFLINE_CONFIG)
    for statement in duckdb.extract_statements(recipe):
        if statement.type == duckdb.StatementType.LOAD:  # the file its PyPI package ships
            con.execute(f"LOAD '{extension_file(statement.query.split()[-1])}'")
        else:
            con.execute(statement.query.replace("./parallax-data", fleet_lake.path))
    tiers = dict(con.fetchall())
    con.close()
    assert set(tiers) == {"cloud", "near-edge", "device"}
