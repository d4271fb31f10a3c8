"""The messages API: create, list with pagination, get, delete, and the list cache."""

import asyncio

import asyncpg
import httpx
from app_support import Database, bearer, run_async


def _create(client: httpx.Client, token: str, body: str) -> dict[str, object]:
    response = client.post("/api/messages", json={"body": body}, headers=bearer(token))
    assert response.status_code == 201, response.text
    created: dict[str, object] = response.json()
    return created


def test_create_and_get(client: httpx.Client, alice_token: str) -> None:
    response = client.post(
        "/api/messages", json={"body": "hello, world ✓"}, headers=bearer(alice_token)
    )
    assert response.status_code == 201
    message = response.json()
    assert message["body"] == "hello, world ✓"
    assert response.headers["Location"] == f"/api/messages/{message['id']}"
    me = client.get("/api/auth/me", headers=bearer(alice_token)).json()
    assert message["author_id"] == me["id"]
    fetched = client.get(response.headers["Location"])
    assert fetched.status_code == 200
    assert fetched.json() == message


def test_create_validation(client: httpx.Client, alice_token: str) -> None:
    auth = bearer(alice_token)
    for payload in (
        {},
        {"body": ""},
        {"body": "   "},
        {"body": "x" * 2001},
        {"body": "nul\u0000byte"},
        {"body": 42},
        {"body": "ok", "extra": 1},
        [],
    ):
        response = client.post("/api/messages", json=payload, headers=auth)
        assert response.status_code == 422, payload
    assert client.post("/api/messages", json={"body": "x" * 2000}, headers=auth).status_code == 201
    malformed = client.post(
        "/api/messages",
        content=b"{oops",
        headers={**auth, "Content-Type": "application/json"},
    )
    assert malformed.status_code in (400, 422)


def test_get_errors(client: httpx.Client) -> None:
    assert client.get("/api/messages/999999999").status_code == 404
    assert client.get("/api/messages/0").status_code == 422
    assert client.get("/api/messages/abc").status_code == 422
    assert client.get(f"/api/messages/{2**63}").status_code == 422


def test_list_pagination(client: httpx.Client, alice_token: str) -> None:
    ids = [_create(client, alice_token, f"page item {n}")["id"] for n in range(5)]
    first = client.get("/api/messages", params={"limit": 2, "offset": 0}).json()
    second = client.get("/api/messages", params={"limit": 2, "offset": 2}).json()
    assert [item["id"] for item in first["items"]] == ids[::-1][:2]
    assert [item["id"] for item in second["items"]] == ids[::-1][2:4]
    assert first["limit"] == 2
    assert second["offset"] == 2
    assert first["total"] == second["total"] >= 5
    beyond = client.get("/api/messages", params={"offset": 1_000_000}).json()
    assert beyond["items"] == []


def test_list_validation(client: httpx.Client) -> None:
    for params in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}):
        assert client.get("/api/messages", params=params).status_code == 422, params
    default = client.get("/api/messages").json()
    assert default["limit"] == 20
    assert default["offset"] == 0


def test_delete(client: httpx.Client, alice_token: str, bob_token: str) -> None:
    message = _create(client, alice_token, "to be deleted")
    url = f"/api/messages/{message['id']}"
    assert client.delete(url, headers=bearer(bob_token)).status_code == 403
    assert client.get(url).status_code == 200
    response = client.delete(url, headers=bearer(alice_token))
    assert response.status_code == 204
    assert response.content == b""
    assert client.get(url).status_code == 404
    assert client.delete(url, headers=bearer(alice_token)).status_code == 404
    assert client.delete("/api/messages/0", headers=bearer(alice_token)).status_code == 422


async def _insert_behind_the_apps_back(dsn: str, author_id: int, body: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        new_id: int = await conn.fetchval(
            "INSERT INTO messages (body, author_id) VALUES ($1, $2) RETURNING id", body, author_id
        )
        return new_id
    finally:
        await conn.close()


def test_list_cache_and_invalidation(
    client: httpx.Client, server_b_client: httpx.Client, alice_token: str, database: Database
) -> None:
    params = {"limit": 5, "offset": 0}
    _create(client, alice_token, "cache warm-up")
    miss = client.get("/api/messages", params=params)
    assert miss.headers["X-Cache"] == "miss"
    hit = client.get("/api/messages", params=params)
    assert hit.headers["X-Cache"] == "hit"
    assert hit.json() == miss.json()

    # A row the app did not write stays invisible while the cached page lives: the cache is
    # really what answers.
    me = client.get("/api/auth/me", headers=bearer(alice_token)).json()
    sneaked = run_async(_insert_behind_the_apps_back(database.dsn, me["id"], "sneaked in"))
    stale = client.get("/api/messages", params=params)
    assert stale.headers["X-Cache"] == "hit"
    assert sneaked not in [item["id"] for item in stale.json()["items"]]

    # A write through any app process invalidates the cache for all of them.
    created = server_b_client.post(
        "/api/messages", json={"body": "invalidate"}, headers=bearer(alice_token)
    ).json()
    fresh = client.get("/api/messages", params=params)
    assert fresh.headers["X-Cache"] == "miss"
    ids = [item["id"] for item in fresh.json()["items"]]
    assert ids[:2] == [created["id"], sneaked]

    # Deleting invalidates too.
    assert client.get("/api/messages", params=params).headers["X-Cache"] == "hit"
    server_b_client.delete(f"/api/messages/{created['id']}", headers=bearer(alice_token))
    after_delete = client.get("/api/messages", params=params)
    assert after_delete.headers["X-Cache"] == "miss"
    assert created["id"] not in [item["id"] for item in after_delete.json()["items"]]


def test_concurrent_creates_all_land(server_url: str, alice_token: str) -> None:
    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=server_url, timeout=10) as http:
            responses = await asyncio.gather(
                *(
                    http.post(
                        "/api/messages", json={"body": f"burst {n}"}, headers=bearer(alice_token)
                    )
                    for n in range(20)
                )
            )
        return [response.status_code for response in responses]

    assert run_async(burst()) == [201] * 20
