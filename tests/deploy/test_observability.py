"""deploy/prometheus/alerts.yaml and deploy/grafana/parallax.json: well-formed, and every
metric they name is one a real `parallax server` and `parallax collector` export."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.deploy.manifests import DEPLOY
from tests.otlp import export_request, inference_span
from tests.scraping import Scrape
from tests.servers import OtlpClient, ParallaxProcess, collector_process, free_port
from tests.waiting import wait_until

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
DASHBOARD = DEPLOY / "grafana" / "parallax.json"
METRIC = re.compile(r"\bparallax_[a-z0-9_]+\b")


def alert_rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


@pytest.fixture(scope="module")
def exported_names(tmp_path_factory) -> set[str]:
    """Every metric name a server and a collector export once a span went through."""
    work = tmp_path_factory.mktemp("observability")
    server_metrics, collector_metrics = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    server = ParallaxProcess(
        "server", "--lake", str(work / "lake"), "--listen", "127.0.0.1:0",
        env={"PARALLAX_SERVER_METRICS_LISTEN": server_metrics},
    )  # fmt: skip
    collector = collector_process(server.address, work / "buffer", metrics_listen=collector_metrics)
    try:
        OtlpClient(collector.address).export(export_request([inference_span()]))
        wait_until(
            lambda: Scrape(collector_metrics).value("parallax_collector_spans_delivered_total")
        )
        names = Scrape(server_metrics).names() | Scrape(collector_metrics).names()
    finally:
        assert collector.stop() == 0
        assert server.stop() == 0
    return names


def test_every_alert_is_a_complete_rule():
    rules = alert_rules()
    assert len(rules) >= 10
    for rule in rules:
        assert set(rule) >= {"alert", "expr", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    assert len({rule["alert"] for rule in rules}) == len(rules)


def test_the_alerts_cover_what_an_operator_must_hear_about():
    watched = {name for rule in alert_rules() for name in METRIC.findall(rule["expr"])}
    assert watched >= {
        "parallax_ready",
        "parallax_collector_buffer_oldest_pending_age_seconds",
        "parallax_collector_buffer_dropped_spans_total",
        "parallax_requests_total",
        "parallax_ingest_spans_total",
        "parallax_reconciler_lag_seconds",
        "parallax_findings_open",
    }
    latency = [rule for rule in alert_rules() if "latency over budget" in rule["expr"]]
    assert len(latency) == 1


def test_every_dashboard_panel_has_a_place_and_a_prometheus_query():
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert variables >= {"datasource", "server_job", "collector_job"}
    for panel in dashboard["panels"]:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"


def test_every_metric_the_alerts_and_the_dashboard_use_is_exported(exported_names):
    used = {
        name
        for expression in [rule["expr"] for rule in alert_rules()] + dashboard_expressions()
        for name in METRIC.findall(expression)
    }
    assert used - exported_names == set()
    assert len(used) >= 25
