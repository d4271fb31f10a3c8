# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the roles find each other across hosts: the wiring of the collection's playbooks
(playbooks/group_vars/all/wiring.yml), written once. Documentation: the .yml file of each filter
beside this one (ansible-doc -t filter fastapi_vps.stack.<name>)."""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from ansible.errors import AnsibleFilterError

LOOPBACK = "127.0.0.1"


def _address(hostvars: t.Mapping[str, t.Any], host: str) -> str:
    """The address the other hosts reach a host at: its private_address."""
    try:
        return str(hostvars[host]["private_address"])
    except KeyError as missing:
        raise AnsibleFilterError(f"host {host} has no private_address") from missing


def peer_addresses(
    hosts: list[str], hostvars: t.Mapping[str, t.Any], this_host: str, port: int | str | None = None
) -> list[str]:
    """The addresses of `hosts` other than `this_host`, in their order, with `:port` if given."""
    suffix = "" if port is None or port == "" else f":{int(port)}"
    return [_address(hostvars, host) + suffix for host in hosts if host != this_host]


def local_or_address(hosts: list[str], hostvars: t.Mapping[str, t.Any], this_host: str) -> str:
    """Where this host reaches the first of `hosts`: loopback when it is that host (or there is
    none), else its address."""
    first = hosts[0] if hosts else this_host
    return LOOPBACK if first == this_host else _address(hostvars, first)


def upstream_servers(
    hosts: list[str], hostvars: t.Mapping[str, t.Any], this_host: str, socket: str, port: int | str
) -> list[str]:
    """What nginx on `this_host` proxies to: the local app's unix socket when it is one of
    `hosts`, then the other hosts' address:port."""
    local = [f"unix:{socket}"] if this_host in hosts else []
    return local + peer_addresses(hosts, hostvars, this_host, port)


def connection_url(
    scheme: str, user: str, password: str, host: str, port: int | str, path: str = ""
) -> str:
    """scheme://user:password@host:port/path, the user and password percent-encoded whole."""
    credentials = f"{quote(str(user), safe='')}:{quote(str(password), safe='')}"
    return f"{scheme}://{credentials}@{host}:{int(port)}/{path.lstrip('/')}"


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "peer_addresses": peer_addresses,
            "local_or_address": local_or_address,
            "upstream_servers": upstream_servers,
            "connection_url": connection_url,
        }
