"""The collection's filters (plugins/filter), called as Ansible calls them."""

import importlib.util
import sys
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collectionlib import COLLECTION

FILTERS: dict = {}
for path in sorted((COLLECTION / "plugins" / "filter").glob("*.py")):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    FILTERS.update(module.FilterModule().filters())

HOSTVARS = {
    "web1": {"private_address": "10.0.0.10"},
    "app1": {"private_address": "10.0.0.21"},
    "app2": {"private_address": "10.0.0.22"},
    "data1": {"private_address": "10.0.0.30"},
}
APPS = ["app1", "app2"]


def test_peer_addresses_leave_this_host_out_and_keep_the_order() -> None:
    peers = FILTERS["peer_addresses"]
    assert peers(APPS, HOSTVARS, "app1") == ["10.0.0.22"]
    assert peers(APPS, HOSTVARS, "web1") == ["10.0.0.21", "10.0.0.22"]
    assert peers(APPS, HOSTVARS, "web1", 8000) == ["10.0.0.21:8000", "10.0.0.22:8000"]
    assert peers([], HOSTVARS, "web1") == []
    with pytest.raises(AnsibleFilterError, match="host app3 has no private_address"):
        peers(["app3"], HOSTVARS, "web1")


def test_local_or_address_is_loopback_on_the_host_itself() -> None:
    local_or_address = FILTERS["local_or_address"]
    assert local_or_address(["data1"], HOSTVARS, "data1") == "127.0.0.1"
    assert local_or_address(["data1"], HOSTVARS, "app1") == "10.0.0.30"
    assert local_or_address([], HOSTVARS, "app1") == "127.0.0.1"  # one host does everything


def test_upstream_servers_put_the_local_socket_first() -> None:
    upstream = FILTERS["upstream_servers"]
    assert upstream(APPS, HOSTVARS, "web1", "/run/app.sock", 8000) == [
        "10.0.0.21:8000",
        "10.0.0.22:8000",
    ]
    assert upstream(APPS, HOSTVARS, "app1", "/run/app.sock", "8000") == [
        "unix:/run/app.sock",
        "10.0.0.22:8000",
    ]


def test_connection_url_encodes_the_credentials_whole() -> None:
    url = FILTERS["connection_url"]
    assert url("postgresql", "app", "p/w%rd@:", "10.0.0.30", 5432, "app") == (
        "postgresql://app:p%2Fw%25rd%40%3A@10.0.0.30:5432/app"
    )
    assert url("redis", "app", "secret", "127.0.0.1", "6379", "0") == (
        "redis://app:secret@127.0.0.1:6379/0"
    )


def test_output_tail_keeps_the_end_and_masks_every_secret() -> None:
    tail = FILTERS["output_tail"]
    text = (
        "\n".join(f"line {i}" for i in range(50))
        + "\nurl=postgresql://app:s3cret-long@db password s3cret"
    )
    out = tail(text, 3, ["s3cret", "s3cret-long", ""])
    assert out.splitlines()[0] == "line 48"
    assert "s3cret" not in out and "postgresql://app:********@db password ********" in out


def test_status_line_writes_each_key_as_a_word_in_order() -> None:
    line = FILTERS["status_line"]
    status = {
        "current": "r2",
        "previous": None,
        "ready": True,
        "drained": False,
        "port": 5432,
        "certs": {"reference-app": "88d", "other": None},
        "down": ["reference-app/10.0.0.21:8000", "reference-app/10.0.0.22:8000"],
    }
    assert line(status) == (
        "current=r2 previous=absent ready=yes drained=no port=5432"
        " certs=reference-app:88d,other:absent"
        " down=reference-app/10.0.0.21:8000,reference-app/10.0.0.22:8000"
    )


def test_status_line_writes_empty_collections_as_none_and_nests_the_same_way() -> None:
    line = FILTERS["status_line"]
    assert line({"down": [], "certs": {}}) == "down=none certs=none"
    assert line({"clusters": [{"version": "16", "online": True}, []]}) == (
        "clusters=version:16,online:yes,none"
    )
    assert line({}) == ""
    with pytest.raises(AnsibleFilterError, match="status_line expects a dict, got list"):
        line(["not", "a", "dict"])
