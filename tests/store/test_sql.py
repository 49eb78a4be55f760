"""`parallax sql`: confined read-only queries with table, CSV, JSON and Parquet output."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest

from launch.cli import main
from store import open_writer
from store.sql import QueryError, run_query


@pytest.fixture
def lake(store_settings):
    with open_writer(store_settings) as writer:
        writer.con.execute(
            "INSERT INTO spans (trace_id, span_id, name, start_time, ingested_at, feature, "
            "output_score, attributes) VALUES "
            "('t1', 's1', 'n', now(), now(), 'fraud', 0.5, MAP {'k': 'v'}), "
            "('t2', 's2', 'n', now(), now(), 'recs', 0.25, MAP {})"
        )
    return store_settings


def test_csv_output(lake):
    out = io.BytesIO()
    assert run_query(lake, "SELECT feature, output_score FROM spans ORDER BY 1", "csv", out) == 2
    assert out.getvalue().decode().splitlines() == [
        '"feature","output_score"',
        '"fraud",0.5',
        '"recs",0.25',
    ]


def test_json_output_is_one_object_per_line_with_maps_as_objects(lake):
    out = io.BytesIO()
    run_query(lake, "SELECT feature, attributes FROM spans ORDER BY 1", "json", out)
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert rows == [
        {"feature": "fraud", "attributes": {"k": "v"}},
        {"feature": "recs", "attributes": {}},
    ]


def test_parquet_output(lake, tmp_path):
    target = tmp_path / "out.parquet"
    with open(target, "wb") as out:
        run_query(lake, "SELECT * FROM inferences", "parquet", out)
    assert pq.read_table(target).num_rows == 2


def test_table_output_from_the_command_line_reads_stdin(lake, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("SELECT feature FROM spans ORDER BY 1"))
    assert main(["sql", "--lake", lake.path]) == 0
    out = capsys.readouterr().out
    assert "fraud" in out and "recs" in out


@pytest.mark.parametrize(
    "statement",
    [
        "DELETE FROM spans",
        "INSERT INTO spans (trace_id) VALUES ('x')",
        "DROP TABLE spans",
        "CREATE TABLE x AS SELECT 1",
    ],
)
def test_statements_that_write_are_refused_and_change_nothing(lake, statement, capsys):
    with pytest.raises(QueryError, match="never writes"):
        run_query(lake, statement, "csv", io.BytesIO())
    assert main(["sql", "--lake", lake.path, statement]) == 1
    assert "never writes" in capsys.readouterr().err
    assert run_query(lake, "SELECT trace_id FROM spans", "csv", io.BytesIO()) == 2


def test_attach_and_copy_are_refused_like_on_the_sql_page(lake, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for statement in (f"ATTACH '{elsewhere}/x.duckdb' AS x", f"COPY spans TO '{elsewhere}/x.csv'"):
        with pytest.raises(QueryError, match="ATTACH, COPY"):
            run_query(lake, statement, "csv", io.BytesIO())
    assert list(elsewhere.iterdir()) == []


def test_a_syntax_error_is_reported_plainly(lake, capsys):
    assert main(["sql", "--lake", lake.path, "SELEC 1"]) == 1
    assert "syntax error" in capsys.readouterr().err.lower()


def test_table_output_says_when_rows_were_left_out(lake, capsys):
    assert main(["sql", "--lake", lake.path, "--max-rows", "1", "SELECT feature FROM spans"]) == 0
    assert "showing the first 1 rows" in capsys.readouterr().out
