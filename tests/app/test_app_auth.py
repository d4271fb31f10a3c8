"""The token endpoint and bearer authentication, happy and failing."""

import time

import httpx
import jwt
from app_support import UserCreds, bearer


def test_token_from_form(client: httpx.Client, alice: UserCreds) -> None:
    response = client.post(
        "/api/auth/token", data={"username": alice.email, "password": alice.password}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    me = client.get("/api/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == alice.email


def test_token_from_json_with_any_case_email(client: httpx.Client, alice: UserCreds) -> None:
    response = client.post(
        "/api/auth/token", json={"username": alice.email.upper(), "password": alice.password}
    )
    assert response.status_code == 200
    assert (
        client.get("/api/auth/me", headers=bearer(response.json()["access_token"])).json()["email"]
        == alice.email
    )


def test_wrong_password(client: httpx.Client, alice: UserCreds) -> None:
    response = client.post("/api/auth/token", data={"username": alice.email, "password": "nope"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json() == {"detail": "incorrect username or password"}


def test_unknown_user(client: httpx.Client) -> None:
    response = client.post(
        "/api/auth/token", data={"username": "nobody@example.com", "password": "whatever"}
    )
    assert response.status_code == 401


def test_token_input_validation(client: httpx.Client, alice: UserCreds) -> None:
    missing = client.post("/api/auth/token", data={"username": alice.email})
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["body", "password"]
    not_email = client.post("/api/auth/token", json={"username": "alice", "password": "x"})
    assert not_email.status_code == 422
    bad_json = client.post(
        "/api/auth/token", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert bad_json.status_code == 422
    nul = client.post("/api/auth/token", json={"username": "a\u0000@b.c", "password": "x"})
    assert nul.status_code == 422
    not_utf8 = client.post(
        "/api/auth/token",
        content=b"username=%FF%FE&password=x",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert not_utf8.status_code == 422


def test_token_media_type_and_size(client: httpx.Client) -> None:
    text = client.post("/api/auth/token", content=b"hello", headers={"Content-Type": "text/plain"})
    assert text.status_code == 415
    huge = client.post("/api/auth/token", json={"username": "a@b.c", "password": "x" * 20_000})
    assert huge.status_code == 413


def test_me_needs_a_token(client: httpx.Client) -> None:
    response = client.get("/api/auth/me")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    basic = client.get("/api/auth/me", headers={"Authorization": "Basic YTpi"})
    assert basic.status_code == 401


def test_bad_tokens(client: httpx.Client, secret_key: str, alice_token: str) -> None:
    now = int(time.time())
    claims = jwt.decode(alice_token, secret_key, algorithms=["HS256"])
    forged = jwt.encode({**claims}, "another-key-that-is-long-enough-000000", algorithm="HS256")
    expired = jwt.encode({**claims, "iat": now - 7200, "exp": now - 3600}, secret_key)
    ghost = jwt.encode({**claims, "sub": "999999999"}, secret_key)
    not_a_number = jwt.encode({**claims, "sub": "alice"}, secret_key)
    no_expiry = jwt.encode({"sub": claims["sub"]}, secret_key)
    unsigned = jwt.encode(claims, None, algorithm="none")
    for token in ("garbage", forged, expired, ghost, not_a_number, no_expiry, unsigned):
        response = client.get("/api/auth/me", headers=bearer(token))
        assert response.status_code == 401, token
        assert response.json() == {"detail": "invalid or expired token"}


def test_writes_need_a_token(client: httpx.Client, alice_token: str) -> None:
    assert client.post("/api/messages", json={"body": "x"}).status_code == 401
    assert client.delete("/api/messages/1").status_code == 401
    bad = client.post("/api/messages", json={"body": "x"}, headers=bearer("garbage"))
    assert bad.status_code == 401
