"""Liveness, version, readiness when all is up, and what every response carries."""

import re
import socket

import httpx
from app_support import AppServer


def test_liveness(client: httpx.Client) -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_version(client: httpx.Client, app_env: dict[str, str]) -> None:
    response = client.get("/version")
    assert response.status_code == 200
    assert response.json() == {"release": app_env["APP_RELEASE_ID"], "host": socket.gethostname()}


def test_ready_when_everything_is_up(client: httpx.Client) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"postgres": "ok", "redis": "ok", "pubsub": "ok"},
    }


def test_request_id_is_echoed(client: httpx.Client) -> None:
    response = client.get("/health", headers={"X-Request-ID": "abc-123.def"})
    assert response.headers["X-Request-ID"] == "abc-123.def"


def test_request_id_is_generated_when_missing_or_unsafe(client: httpx.Client) -> None:
    generated = client.get("/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    unsafe = client.get("/health", headers={"X-Request-ID": "bad id\twith<junk>" + "x" * 200})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["X-Request-ID"])


def test_request_id_is_logged_as_json(client: httpx.Client, server: AppServer) -> None:
    client.get("/version", headers={"X-Request-ID": "log-check-42"})
    lines = server.log_lines_with("log-check-42")
    assert lines
    assert '"request_id": "log-check-42"' in lines[-1]
    assert '"route": "/version"' in lines[-1]


def test_security_headers(client: httpx.Client) -> None:
    headers = client.get("/health").headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    # Error responses carry them too.
    assert client.get("/nope").headers["X-Content-Type-Options"] == "nosniff"


def test_docs_load_without_the_api_csp(client: httpx.Client) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    assert "Content-Security-Policy" not in response.headers
    assert response.headers["X-Frame-Options"] == "DENY"


def test_cors_allows_configured_origin(client: httpx.Client) -> None:
    preflight = client.options(
        "/api/messages",
        headers={
            "Origin": "https://allowed.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://allowed.example"
    simple = client.get("/health", headers={"Origin": "https://allowed.example"})
    assert simple.headers["Access-Control-Allow-Origin"] == "https://allowed.example"
    assert "X-Request-ID" in simple.headers["Access-Control-Expose-Headers"]


def test_cors_refuses_other_origins(client: httpx.Client) -> None:
    preflight = client.options(
        "/api/messages",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 400
    assert "Access-Control-Allow-Origin" not in preflight.headers
    simple = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in simple.headers


def test_metrics(client: httpx.Client) -> None:
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    assert 'http_requests_total{method="GET",route="/health",status="200"}' in response.text
    assert "websocket_clients" in response.text


def test_metrics_stay_out_of_the_public_schema(client: httpx.Client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert "/metrics" not in paths
    assert {"/health", "/health/ready", "/version", "/api/auth/token", "/api/messages"} <= set(
        paths
    )


def test_unknown_paths_do_not_explode_metric_labels(client: httpx.Client) -> None:
    client.get("/no/such/path/12345")
    assert "/no/such/path" not in client.get("/metrics").text


def test_not_found_and_method_not_allowed(client: httpx.Client) -> None:
    missing = client.get("/nope")
    assert missing.status_code == 404
    assert missing.json() == {"detail": "Not Found"}
    wrong = client.put("/api/messages")
    assert wrong.status_code == 405
    assert wrong.headers["Allow"] == "GET, POST"
    wrong_item = client.patch("/api/messages/1")
    assert wrong_item.headers["Allow"] == "DELETE, GET"
