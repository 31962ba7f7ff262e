"""/health, /metrics, the app registry and the web UI files."""

from __future__ import annotations

import re

from edge.server.apps import APP_ROUTERS, load_app
from edge.server.security import is_loopback

from .conftest import assert_openai_error, chat_body

DEMO_APPS = {
    "demo": "tests.edge.server.fixture_apps.demo",
    "broken": "tests.edge.server.fixture_apps.broken",
    "absent": "apps.no_such_app.server",
    "absent_pkg": "no_such_package.server",
}
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*\})? (\S+)$')


def test_health_reports_models_and_profile(server):
    with server.client() as c:
        h = c.get("/health").json()
    assert h["status"] == "ok" and h["default_model"] == "default"
    assert "profile" in h and h["auth"] is False
    assert h["models"][0]["id"] == "default" and h["models"][0]["backend"] == "llamacpp"


def test_metrics_are_prometheus_text(server):
    with server.client() as c:
        assert c.post("/v1/chat/completions", json=chat_body(max_tokens=3)).status_code == 200
        c.get("/v1/does-not-exist")
        resp = c.get("/metrics")
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    values: dict[str, float] = {}
    for line in resp.text.splitlines():
        if line.startswith("#"):
            assert re.match(r"^# (HELP|TYPE) \w+ .+$", line), line
            continue
        m = SAMPLE.match(line)
        assert m, f"not a Prometheus sample: {line!r}"
        values[line.rsplit(" ", 1)[0]] = float(m.group(4))
    assert values['edgesplit_tokens_total{model="default",kind="completion"}'] >= 3
    assert values['edgesplit_http_requests_total{method="POST",route="/v1/chat/completions",status="200"}'] >= 1
    assert values['edgesplit_http_requests_total{method="GET",route="unmatched",status="404"}'] >= 1
    assert values['edgesplit_model_loaded{model="default"}'] == 1
    # a histogram: cumulative buckets, +Inf equal to the count
    buckets = [v for k, v in values.items() if k.startswith('edgesplit_time_to_first_token_seconds_bucket{model="default"')]
    assert buckets == sorted(buckets) and buckets[-1] == values[
        'edgesplit_time_to_first_token_seconds_count{model="default"}'] >= 1


def test_registry_names_the_four_apps():
    assert {k: APP_ROUTERS[k] for k in ("health", "agent", "cogenesis", "ledger")} == {
        "health": "apps.health.server", "agent": "apps.gui_agent.server",
        "cogenesis": "apps.cogenesis.server", "ledger": "cloud_bridge.server"}
    # every shipped app imports and mounts: a broken app module must fail here, not hide as "not installed"
    for name, module in APP_ROUTERS.items():
        entry = load_app(name, module)
        assert entry.installed and entry.error is None, (name, entry.error)
        assert entry.router is not None and entry.router.routes, name


def test_apps_mount_or_show_not_installed(start_server):
    live = start_server(apps=DEMO_APPS)
    with live.client() as c:
        listed = {a["name"]: a for a in c.get("/v1/apps").json()["data"]}
        assert listed["demo"]["installed"] and listed["demo"]["has_page"]
        assert not listed["absent"]["installed"] and not listed["absent_pkg"]["installed"]
        assert not listed["broken"]["installed"] and "broken on purpose" in listed["broken"]["error"]
        assert c.get("/v1/apps/demo/ping").json() == {"pong": True}
        # an app's EdgeError is an OpenAI-style error too
        assert "always refuses" in assert_openai_error(c.get("/v1/apps/demo/fail"), 400)["message"]
        page = c.get("/apps/demo", follow_redirects=True)
        assert page.status_code == 200 and "Demo app page" in page.text
        assert "document.title" in c.get("/apps/demo/demo.js").text
        for name in ("absent", "absent_pkg"):
            text = c.get(f"/apps/{name}/").text
            assert "not installed" in text
        assert "could not be loaded" in c.get("/apps/broken/").text
        assert_openai_error(c.get("/apps/nope/"), 404)
        assert_openai_error(c.get("/apps/demo/..%2F..%2F..%2Fconftest.py"), 404)
        assert_openai_error(c.get("/v1/apps/absent/anything"), 404)


def test_web_ui_is_served_locally(server):
    with server.client() as c:
        index = c.get("/")
        assert index.status_code == 200 and "<title>edgesplit</title>" in index.text
        for src in re.findall(r'(?:src|href)="(/static/[^"]+)"', index.text):
            assert c.get(src).status_code == 200, src
        assert "http" not in re.sub(r'href="/[^"]*"', "", index.text).replace("http-equiv", "")  # no CDN
        assert c.get("/openapi.json").json()["paths"]["/v1/chat/completions"]
        assert c.get("/docs").status_code == 404  # Swagger UI would load from a CDN


def test_loopback_rule():
    for host in ("127.0.0.1", "127.8.0.1", "::1", "[::1]", "localhost"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "::", "192.168.1.5", "example.com", ""):
        assert not is_loopback(host), host
