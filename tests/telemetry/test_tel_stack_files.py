"""The full-stack files (compose, collector, Grafana) parse and hang together."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def test_dashboard_json_queries_the_provisioned_jaeger() -> None:
    dash = json.loads((ROOT / "dashboards" / "devx-debugging.json").read_text())
    operations = set()
    for panel in dash["panels"]:
        for target in panel.get("targets", []):
            assert target["datasource"]["uid"] == "devx-jaeger"
            operations.add(target.get("operation"))
    assert {"devx.tty_lock.held", "devx.repl", "devx.actor"} <= operations


def test_compose_and_collector_configs() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert services["jaeger"]["image"].split(":")[0] == "jaegertracing/jaeger"
    assert "16686:16686" in services["jaeger"]["ports"]
    assert {"4317:4317", "4318:4318"} <= set(services["otel-collector"]["ports"])
    for name in ("collector.yaml", "collector-replay.yaml"):
        cfg = yaml.safe_load((ROOT / "otel" / name).read_text())
        for pipeline in cfg["service"]["pipelines"].values():
            for kind in ("receivers", "processors", "exporters"):
                for component in pipeline[kind]:
                    assert component in cfg[kind], (name, component)
    ds = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/jaeger.yaml").read_text())
    assert ds["datasources"][0]["uid"] == "devx-jaeger"
    yaml.safe_load((ROOT / "dashboards/provisioning/dashboards/devx.yaml").read_text())
