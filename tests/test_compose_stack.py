"""The compose stack, checked without Docker: docker-compose.yml against the
compose-spec JSON schema (as vendored by check-jsonschema) with its variables resolved
as compose resolves them in an empty environment, compose v1 compatibility, loopback
ports and pinned images; the collector configs' pipelines against their components
and the compose services; Grafana's provisioning and every dashboard query against
its data source (type, uid) and the names in devx.core.schema.

What this cannot check is what only a running engine shows (no Docker here, and no
collector binary ships on PyPI): that the images start with these configs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from devx.core import schema

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
COLLECTORS = {
    "otel-collector": ROOT / "otel/collector.yaml",
    "otel-replay": ROOT / "otel/collector-replay.yaml",
}
DASHBOARDS = ROOT / "dashboards"


# --- compose's variable interpolation ------------------------------------------------

_VAR = re.compile(
    r"\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(ValueError):
    pass


def interpolate(value: Any, env: Mapping[str, str], where: str = "") -> Any:
    """``value`` with ``$VAR``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``,
    ``${VAR:?err}``, ``${VAR?err}``, ``${VAR:+alt}`` and ``$$`` resolved as compose does."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m[0] == "$$":
            return "$"
        name = m[1] or m[4]
        op, arg = m[2], m[3] or ""
        val = env.get(name)
        unset_or_empty = not val
        if op in (":-", "-"):
            return arg if (unset_or_empty if op == ":-" else val is None) else str(val)
        if op in (":?", "?"):
            if unset_or_empty if op == ":?" else val is None:
                raise MissingVariable(f"{where}: required variable {name} is missing: {arg}")
            return str(val)
        if op == ":+":
            return arg if not unset_or_empty else ""
        return val or ""

    return _VAR.sub(sub, value)


def compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    return interpolate(yaml.safe_load(COMPOSE.read_text()), env or {})


def services(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    return compose(env)["services"]


def test_interpolation_rules() -> None:
    env = {"SET": "x", "EMPTY": ""}
    cases = {
        "${SET:-d}": "x", "${EMPTY:-d}": "d", "${EMPTY-d}": "", "${UNSET-d}": "d",
        "$$HOME": "$HOME", "${SET:+alt}": "alt", "${UNSET:+alt}": "", "a${SET}b$SET": "axbx",
    }  # fmt: skip
    assert {k: interpolate(k, env) for k in cases} == cases
    with pytest.raises(MissingVariable, match="UNSET"):
        interpolate("${UNSET:?say so}", env)


# --- the real thing: compose itself resolves the same, where it is installed ----------


def _compose_cli() -> tuple[list[str], bool] | None:
    """The compose command here and whether it is v2 (which also has ``${VAR:+alt}``):
    the ``docker compose`` plugin, else v1's ``docker-compose`` (Debian's package)."""
    docker = shutil.which("docker")
    if docker:
        ok = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60)
        if ok.returncode == 0:
            return [docker, "compose"], True
    v1 = shutil.which("docker-compose")
    return ([v1], False) if v1 else None


COMPOSE_CLI = _compose_cli()
needs_compose = pytest.mark.skipif(
    COMPOSE_CLI is None,
    reason="no compose here (`docker compose` or `docker-compose`): "
    "interpolation checked against the rules above only",
)


def compose_config(cwd: Path, env: Mapping[str, str], *args: str) -> dict[str, Any]:
    """What compose itself makes of the compose file in ``cwd`` in environment ``env``
    (nothing else: no daemon needed for ``config``)."""
    assert COMPOSE_CLI is not None
    out = subprocess.run(
        [*COMPOSE_CLI[0], *args, "config"],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return yaml.safe_load(out.stdout)


@needs_compose
def test_interpolation_rules_are_composes(tmp_path: Path) -> None:
    """The rules of :func:`interpolate`, against compose's own resolution."""
    assert COMPOSE_CLI is not None
    cases = ["${SET:-d}", "${EMPTY:-d}", "${EMPTY-d}", "${UNSET-d}", "$$HOME", "a${SET}b$SET"]
    if COMPOSE_CLI[1]:  # v1 refuses :+
        cases += ["${SET:+alt}", "${UNSET:+alt}"]
    env = {"SET": "x", "EMPTY": ""}
    service = {"image": "busybox", "environment": {f"V{i}": c for i, c in enumerate(cases)}}
    (tmp_path / "docker-compose.yml").write_text(yaml.safe_dump({"services": {"s": service}}))
    got = compose_config(tmp_path, env)["services"]["s"]["environment"]
    # `config` prints a compose file again: a literal $ comes out escaped as $$
    got = {k: v.replace("$$", "$") for k, v in got.items()}
    assert got == {f"V{i}": interpolate(c, env) for i, c in enumerate(cases)}


@needs_compose
@pytest.mark.parametrize(
    "env", [{}, {"DEVX_TELEMETRY_DIR": "/tmp/devx-telemetry-1000", "DEVX_UID": "1000"}]
)
def test_compose_resolves_our_file_as_these_tests_do(env: dict[str, str]) -> None:
    """Every field of docker-compose.yml that holds a variable, as compose resolves it
    (a relative host path made absolute, as compose does), against :func:`services`."""
    theirs = compose_config(ROOT, env, "--profile", "replay")["services"]
    ours = services(env)
    raw = yaml.safe_load(COMPOSE.read_text())["services"]
    checked = 0
    for name, svc in raw.items():
        for key, value in svc.items():
            if "$" not in json.dumps(value):
                continue
            mine = ours[name][key]
            if key == "volumes":
                mine = [
                    str((ROOT / v.split(":", 1)[0]).resolve()) + ":" + v.split(":", 1)[1]
                    if v.startswith(".")
                    else v
                    for v in mine
                ]
            assert theirs[name][key] == mine, (name, key)
            checked += 1
    assert checked >= 2  # user and volumes of otel-replay at least


# --- docker-compose.yml --------------------------------------------------------------


def compose_schema() -> dict[str, Any]:
    import check_jsonschema

    path = Path(check_jsonschema.__file__).parent / "builtin_schemas/vendor/compose-spec.json"
    return json.loads(path.read_text())


@pytest.mark.parametrize(
    "env", [{}, {"DEVX_TELEMETRY_DIR": "/tmp/devx-telemetry-1000", "DEVX_UID": "1000"}]
)
def test_compose_file_is_valid_with_or_without_environment(env: dict[str, str]) -> None:
    """`docker compose up -d` needs no variable: compose resolves every service's
    variables (profiles on or off), so none may be required; the result is a valid
    compose file."""
    import jsonschema

    raw = COMPOSE.read_text()
    assert not re.search(r"\$\{[^}]*\?", raw), "a required ${VAR:?...} breaks `docker compose up`"
    doc = compose(env)
    jsonschema.validate(doc, compose_schema())
    if env:
        replay = doc["services"]["otel-replay"]
        assert f"{env['DEVX_TELEMETRY_DIR']}:/devx:ro" in replay["volumes"]
        assert replay["user"] == env["DEVX_UID"]


def test_compose_v1_compatible() -> None:
    """Debian's docker-compose (v1, 1.28+: profiles) reads it: no top-level `name:`
    (rejected by v1's schema), nothing but services (and volumes/networks) at the top."""
    doc = yaml.safe_load(COMPOSE.read_text())
    assert set(doc) <= {"services", "volumes", "networks"}, set(doc)


def test_default_stack_and_replay_profile() -> None:
    svcs = services()
    default = {n for n, s in svcs.items() if not s.get("profiles")}
    assert default == {"otel-collector", "jaeger", "tempo", "loki", "grafana"}
    replay = svcs["otel-replay"]
    assert replay["profiles"] == ["replay"]
    # unset: an empty directory of the repository (nothing to replay, nothing fails)
    src = next(v.split(":")[0] for v in replay["volumes"] if v.endswith(":/devx:ro"))
    empty = (ROOT / src).resolve()
    assert empty.is_dir() and not list(empty.glob("*.otlp.jsonl"))
    # devx's files are 0600 in a 0700 directory: the replay runs as their owner
    assert (
        "user" in replay
        and "DEVX_UID" in yaml.safe_load(COMPOSE.read_text())["services"]["otel-replay"]["user"]
    )
    for name, s in svcs.items():  # every dependency is a service of the default stack
        deps = s.get("depends_on") or []
        assert set(deps) <= default - {name}, (name, deps)


def published(svc: Mapping[str, Any]) -> dict[int, int]:
    """host port -> container port, each bound to 127.0.0.1 (asserted)."""
    out = {}
    for p in svc.get("ports", []):
        parts = str(p).split(":")
        assert len(parts) == 3 and parts[0] == "127.0.0.1", f"{p}: publish on 127.0.0.1 only"
        out[int(parts[1])] = int(parts[2])
    return out


def test_ports_loopback_images_pinned_volumes_exist() -> None:
    raw = yaml.safe_load(COMPOSE.read_text())["services"]
    for name, svc in services().items():
        published(svc)
        image = raw[name]["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and re.fullmatch(r"\d+\.\d+\.\d+", tag), f"{name}: pin {image!r}"
        for vol in svc.get("volumes", []):
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (ROOT / src).exists(), f"{name}: {src} is not in the repository"


def test_health() -> None:
    """Compose probes only what has a probe inside its image (Grafana's wget); the
    distroless services' health endpoints are published and probed from the host by
    otel/check_stack.py, whose ports must be the published ones."""
    import runpy

    svcs = services()
    assert set(svcs["grafana"]["healthcheck"]["test"][:2]) == {"CMD", "wget"}
    assert [n for n, s in svcs.items() if "healthcheck" in s] == ["grafana"]
    endpoints = runpy.run_path(str(ROOT / "otel/check_stack.py"))["ENDPOINTS"]
    assert set(endpoints) == {n for n, s in svcs.items() if not s.get("profiles")}
    for name, url in endpoints.items():
        port = int(re.match(r"http://127\.0\.0\.1:(\d+)/", url)[1])
        assert port in published(svcs[name]), (name, url)


# --- the collector configs -----------------------------------------------------------


def collector(name: str) -> dict[str, Any]:
    return yaml.safe_load(COLLECTORS[name].read_text())


def container_ports(svc_name: str) -> set[int]:
    svc = services()[svc_name]
    ports = {int(str(p)) for p in svc.get("expose", [])} | set(published(svc).values())
    if svc_name == "tempo":  # its own config says what it listens on
        tempo = yaml.safe_load((ROOT / "otel/tempo.yaml").read_text())
        ports.add(tempo["server"]["http_listen_port"])
        for proto in tempo["distributor"]["receivers"]["otlp"]["protocols"].values():
            ports.add(int(proto["endpoint"].rsplit(":", 1)[1]))
    if svc_name == "loki":
        ports.add(3100)  # the image's default config
    return ports


def endpoint_target(endpoint: str) -> tuple[str, int]:
    m = re.fullmatch(r"(?:https?://)?([\w.-]+):(\d+)(/.*)?", endpoint)
    assert m, endpoint
    return m[1], int(m[2])


@pytest.mark.parametrize("name", sorted(COLLECTORS))
def test_collector_pipelines(name: str) -> None:
    cfg = collector(name)
    svc = cfg["service"]
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for pname, pipe in svc["pipelines"].items():
        for kind in used:
            for comp in pipe.get(kind, []):
                assert comp in (cfg.get(kind) or {}), f"{name}: {pname} uses undefined {comp}"
                used[kind].add(comp)
        assert pipe.get("receivers") and pipe.get("exporters"), (name, pname)
    for kind, names in used.items():
        assert set(cfg.get(kind) or {}) == names, f"{name}: {kind} defined but unused"
    assert set(svc.get("extensions", [])) == set(cfg.get("extensions") or {})
    # traces and log records both go somewhere that keeps them (not only `debug`)
    for sig in ("traces", "logs"):
        kept = [e for e in svc["pipelines"][sig]["exporters"] if e.split("/")[0] != "debug"]
        assert kept, f"{name}: {sig} are stored nowhere"
    assert any("loki" in e for e in svc["pipelines"]["logs"]["exporters"])
    # every exporter reaches a service of the stack on a port it listens on
    svcs = services()
    for exp, conf in cfg["exporters"].items():
        if exp.split("/")[0] == "debug":
            continue
        host, port = endpoint_target(conf["endpoint"])
        assert host in svcs and not svcs[host].get("profiles"), (name, exp, host)
        assert port in container_ports(host), (name, exp, host, port)
        assert host in (svcs[name].get("depends_on") or []), f"{name} must start after {host}"


def test_collector_ports_match_compose() -> None:
    cfg = collector("otel-collector")
    pub = published(services()["otel-collector"])
    listening = {
        int(p["endpoint"].rsplit(":", 1)[1]) for p in cfg["receivers"]["otlp"]["protocols"].values()
    }
    listening.add(int(cfg["extensions"]["health_check"]["endpoint"].rsplit(":", 1)[1]))
    assert set(pub.values()) == listening == {4317, 4318, 13133}
    assert all(h == c for h, c in pub.items())  # the README's localhost:4318 is the receiver


def test_replay_reads_what_devx_writes() -> None:
    from devx.telemetry.timeline.source import FILE_GLOB_SUFFIX

    cfg = collector("otel-replay")
    (pattern,) = cfg["receivers"]["otlpjsonfile"]["include"]
    assert pattern == "/devx/*" + FILE_GLOB_SUFFIX
    mounts = [v.split(":") for v in services()["otel-replay"]["volumes"]]
    assert ["./otel/collector-replay.yaml", "/etc/otelcol-contrib/config.yaml", "ro"] in mounts
    assert services()["otel-replay"]["command"] == ["--config=/etc/otelcol-contrib/config.yaml"]


# --- Grafana -------------------------------------------------------------------------


def provisioned() -> dict[str, dict[str, Any]]:
    doc = yaml.safe_load((DASHBOARDS / "provisioning/datasources/datasources.yaml").read_text())
    return {d["uid"]: d for d in doc["datasources"]}


def test_grafana_provisioning() -> None:
    grafana = services()["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    assert mounts["/etc/grafana/provisioning"] == "./dashboards/provisioning"
    prov = yaml.safe_load((DASHBOARDS / "provisioning/dashboards/devx.yaml").read_text())
    (provider,) = prov["providers"]
    assert mounts[provider["options"]["path"]] == "./dashboards"
    sources = provisioned()
    assert {d["type"] for d in sources.values()} == {"jaeger", "tempo", "loki"}
    assert sum(bool(d.get("isDefault")) for d in sources.values()) == 1
    for d in sources.values():  # each URL is a service of the stack on a port it serves
        host, port = endpoint_target(d["url"])
        assert port in container_ports(host), d
        assert host in grafana["depends_on"]
    for d in sources.values():
        for key, val in (d.get("jsonData") or {}).get("tracesToLogsV2", {}).items():
            if key == "datasourceUid":
                assert val in sources


def dashboards() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in sorted(DASHBOARDS.glob("*.json")):
        yield path.name, json.loads(path.read_text())


# names a query may use: devx's (schema.py), and the OTel ones devx sets
_SCHEMA_NAMES = {v for k, v in vars(schema).items() if k.isupper() and isinstance(v, str)}
_OTEL_NAMES = {"service.name", "service.namespace", "process.pid", "exception.type"}
SPAN_NAMES = {
    schema.TREE_START_SPAN,
    schema.TREE_SPAN,
    schema.ACTOR_START_SPAN,
    schema.ACTOR_SPAN,
    schema.LOCK_HELD_SPAN,
    schema.LOCK_WAIT_SPAN,
    schema.REPL_SPAN,
    schema.STACK_DUMP,
}


def _balanced(q: str) -> bool:
    depth = {"(": 0, "{": 0, "[": 0}
    close = {")": "(", "}": "{", "]": "["}
    for ch in re.sub(r'"(?:[^"\\]|\\.)*"', '""', q):
        if ch in depth:
            depth[ch] += 1
        elif ch in close:
            depth[close[ch]] -= 1
            if depth[close[ch]] < 0:
                return False
    return not any(depth.values())


def check_traceql(q: str) -> None:
    assert _balanced(q), q
    assert re.match(r"^\{ .* \}( \| select\(.*\))?$", q), q
    for name in re.findall(r'\bname = "([^"]+)"', q):
        assert name in SPAN_NAMES, f"{name}: not a devx span (schema.py)"
    for scope, attr in re.findall(r"\b(span|resource)\.([\w.]+)", q):
        if scope == "resource":
            assert attr in {"service.name", "service.namespace"}, attr
        else:
            assert attr in _SCHEMA_NAMES | _OTEL_NAMES, f"span.{attr}: not a name devx sets"


def _loki_name(otel: str) -> str:
    return otel.replace(".", "_")


def check_logql(q: str) -> None:
    assert _balanced(q), q
    (selector,) = re.findall(r"\{([^{}]*)\}", q)
    for label, _op, _val in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', selector):
        assert label in {"service_name", "service_namespace"}, label  # OTLP resource labels
    known = {_loki_name(n) for n in _SCHEMA_NAMES | _OTEL_NAMES} | {
        "severity_text", "log_path", "signal", "task_count",
    }  # fmt: skip
    after = q[q.index("}") + 1 :]
    for field in re.findall(r'\|\s*(\w+)\s*(?:=|!=|=~|!~)\s*"', after):
        assert field in known, f"{field}: not a field of devx's log records"
    for grouped in re.findall(r"by \(([^)]*)\)", q):
        for field in grouped.split(","):
            assert field.strip() in known | {"service_name", "service_namespace"}, field
    for text in re.findall(r'\|= "([^"]+)"', q):
        assert text in _SCHEMA_NAMES, f"{text}: line filter on a name devx does not write"


CHECKS = {"tempo": "traceql", "loki": "logql", "jaeger": "search"}

_COND = re.compile(r'(name|span\.[\w.]+|resource\.[\w.]+) (=~|!=|=) "([^"]*)"')


def run_traceql(q: str, spans: list[dict[str, Any]], **variables: str) -> list[dict[str, Any]]:
    """The dashboards' TraceQL (``{ cond && ... } | select(...)``, conditions on the
    span name, ``span.*`` and ``resource.*`` with ``=``, ``!=``, ``=~``) over spans
    read back from a telemetry file: one row (the selected fields) per matching span,
    as Tempo's span table. Anything else in a query is refused."""
    for name, value in variables.items():
        q = q.replace(f"${name}", value)
    m = re.fullmatch(r"\{ (.*) \}(?: \| select\((.*)\))?", q)
    assert m, f"not the TraceQL subset the dashboards use: {q}"
    conds = []
    for part in m.group(1).split(" && "):
        c = _COND.fullmatch(part.strip())
        assert c, f"unsupported condition: {part}"
        conds.append(c.groups())
    fields = [f.strip() for f in (m.group(2) or "").split(",") if f.strip()]

    def value(span: dict[str, Any], field: str) -> Any:
        if field == "name":
            return span["name"]
        scope, _, attr = field.partition(".")
        return (span["resource"] if scope == "resource" else span["attributes"]).get(attr)

    def holds(span: dict[str, Any], field: str, op: str, want: str) -> bool:
        got = value(span, field)
        if op == "=~":
            return got is not None and re.fullmatch(want, str(got)) is not None
        return (str(got) == want) if op == "=" else (got is None or str(got) != want)

    return [{f: value(s, f) for f in fields} for s in spans if all(holds(s, *c) for c in conds)]


def dashboard_queries() -> dict[str, str]:
    """Each Tempo panel's TraceQL by panel title."""
    out = {}
    for _, dash in dashboards():
        for panel in dash["panels"]:
            for t in panel.get("targets", ()):
                if t.get("queryType") == "traceql":
                    out[panel["title"]] = t["query"]
    return out


@pytest.mark.parametrize("name,dash", list(dashboards()))
def test_dashboard_queries(name: str, dash: dict[str, Any]) -> None:
    sources = provisioned()
    titles = set()
    variables = {v["name"] for v in dash["templating"]["list"]}
    for panel in dash["panels"]:
        assert panel["title"] not in titles
        titles.add(panel["title"])
        if panel["type"] == "text":
            continue
        ds = panel["datasource"]
        assert ds["uid"] in sources and sources[ds["uid"]]["type"] == ds["type"], panel["title"]
        assert panel["targets"], panel["title"]
        for t in panel["targets"]:
            tds = t.get("datasource", ds)
            assert tds == ds, panel["title"]
            kind = CHECKS[ds["type"]]
            text = json.dumps(t)
            for var in re.findall(r"\$(\w+)", text):
                assert var in variables or var.startswith("__"), (panel["title"], var)
            if kind == "traceql":
                assert t["queryType"] == "traceql" and t["tableType"] in ("spans", "traces")
                check_traceql(t["query"])
            elif kind == "logql":
                check_logql(t["expr"])
            else:
                assert t["queryType"] == "search" and t["operation"] in SPAN_NAMES
    # the panels the README promises, each from a source that has rows of that grain
    by_title = {p["title"]: p for p in dash["panels"]}
    assert by_title["TTY lock holds"]["targets"][0]["tableType"] == "spans"
    assert by_title["REPL sessions"]["targets"][0]["tableType"] == "spans"
    assert by_title["Actor lifetimes"]["datasource"]["type"] == "tempo"
    crash = by_title["Crashes by actor and exception type"]["targets"][0]["expr"]
    assert "by (service_name, exception_type)" in crash
    assert by_title["Stack dumps"]["datasource"]["type"] == "loki"
    trees = by_title["Trees"]["targets"][0]
    assert f'name = "{schema.TREE_START_SPAN}"' in trees["query"]  # live, from the start
    assert trees["tableType"] == "traces"  # one row per tree
    # every variable defaults to every tree (trees are named after their program, so
    # a default of a name, e.g. "root", would show nothing of most of them)
    for var in dash["templating"]["list"]:
        default = var["current"]["value"]
        assert var["query"] == default, var
        for name in ("root", "child_crash", "pkg", "a-b.c"):
            assert re.fullmatch(default, name), (var["name"], default, name)
    assert 'devx.actor.outcome = "crashed"' in by_title["Crashed actors"]["targets"][0]["query"]


def test_the_panels_on_a_real_recorded_crash(tmp_path: Path) -> None:
    """Every Tempo panel's query over the telemetry file of a real run (a child
    crashes; no terminal, so no REPL): the rows a person would see."""
    import subprocess
    import sys

    from devx.telemetry.readback import load_spans

    trace = tmp_path / "t.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "DEVX_"))}
    env.update(DEVX_TELEMETRY_FILE=str(trace), DEVX_TELEMETRY_QUIET="1")
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples/debugging/child_crash.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 1, proc.stderr
    spans = load_spans(trace)
    q = dashboard_queries()
    ((_, dash),) = dashboards()
    defaults = {v["name"]: v["current"]["value"] for v in dash["templating"]["list"]}

    def rows(title: str, **variables: str) -> list[dict[str, Any]]:
        return run_traceql(q[title], spans, **{**defaults, **variables})

    crashed = rows("Crashed actors")
    assert [r["resource.service.name"] for r in crashed] == ["child_crash/divider"]
    lifetimes = {r["resource.service.name"]: r for r in rows("Actor lifetimes")}
    assert {k: r["span.devx.actor.outcome"] for k, r in lifetimes.items()} == {
        "child_crash": "error",
        "child_crash/divider": "crashed",
    }
    assert len(rows("Actors started")) == 2
    assert rows("Crashed actors", tree="other") == []  # the tree variable filters
    # the Trees panel with the dashboard's defaults: this tree, named after its program
    assert [r["resource.service.name"] for r in rows("Trees")] == ["child_crash"]
    assert rows("Trees", root="root") == []  # the old default found nothing of it
    # each crash took its turn at the terminal (the child's, then the root's), but
    # with no terminal on stdin no REPL opened
    holds = rows("TTY lock holds")
    assert {r["resource.service.name"] for r in holds} == set(lifetimes)
    assert {r["span.devx.tty_lock.reason"] for r in holds} == {"crash"}
    assert len({r["span.devx.tty_lock.hold_id"] for r in holds}) == 2
    assert rows("REPL sessions") == []
    assert rows("Stack dumps (live spans)") == []


def test_queries_are_checked_for_real() -> None:
    """The checks above refuse what they should."""
    with pytest.raises(AssertionError):
        check_traceql('{ name = "devx.tty_lock.hold" }')  # a typo'd span name
    with pytest.raises(AssertionError):
        check_traceql('{ name = "devx.repl" } | select(span.devx.nope)')
    with pytest.raises(AssertionError):
        check_logql('{service_namespace=~".+"} | exception_kind != ""')
    with pytest.raises(AssertionError):
        check_logql('sum(count_over_time({service_namespace=~".+"}[5m])')
    with pytest.raises(AssertionError):  # beyond the subset run_traceql evaluates
        run_traceql("{ duration > 1s }", [])
    span = {"name": "devx.actor", "attributes": {"devx.actor.outcome": "ok"}, "resource": {}}
    assert run_traceql('{ span.devx.actor.outcome = "crashed" }', [span]) == []
    assert run_traceql('{ span.devx.actor.outcome != "crashed" }', [span]) == [{}]


def test_check_stack_reads_the_services_directly_whatever_http_proxy_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A machine with ``http_proxy`` set (a corporate or CI proxy): the health checks
    go to 127.0.0.1 straight, not through the proxy, which cannot reach this host's
    loopback (every service was DOWN while the stack was up)."""
    import http.server
    import runpy
    import socket
    import threading

    class Ok(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with socket.socket() as dead:  # a proxy address where nothing answers
        dead.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{dead.getsockname()[1]}"
    try:
        for var in ("http_proxy", "HTTP_PROXY"):
            monkeypatch.setenv(var, proxy)
        for var in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(var, raising=False)
        up = runpy.run_path(str(ROOT / "otel/check_stack.py"))["up"]
        assert up(f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()


def test_check_stack_says_what_it_waits_for_and_what_to_do() -> None:
    """With the stack down, check_stack.py said nothing for its whole timeout (60 s
    by default, a hang to the eye), then a table: now one line at once naming the
    services it waits for and how they start, and a hint after the table."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, str(ROOT / "otel/check_stack.py"), "--timeout", "0.5"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    if proc.returncode == 0:
        pytest.skip("the compose stack is up on this machine")
    assert proc.returncode == 1
    first = proc.stderr.splitlines()[0]
    assert first.startswith("waiting up to 0.5 s for ") and "docker compose up -d" in first
    assert "DOWN" in proc.stdout
    assert "not up: is the stack started" in proc.stderr
