"""A loopback stand-in for the part of the Hetzner Cloud API (v1) that this project uses.

Implemented, with state kept in memory:
  GET  /locations, /datacenters, /server_types, /images          (fixed catalogue, ?name=)
  GET  /ssh_keys[?name=|?fingerprint=], /ssh_keys/{id}; POST /ssh_keys; PUT /ssh_keys/{id}
  GET  /networks[?name=], /networks/{id}; POST /networks; PUT /networks/{id}
  POST /networks/{id}/actions/add_subnet
  GET  /servers[?name=|?label_selector=|?status=], /servers/{id}; POST /servers;
  PUT  /servers/{id}; POST /servers/{id}/actions/{attach_to_network,poweron}
  GET  .../actions/{id}                                         (every action succeeds at once)
List answers carry `meta.pagination` and honour `page`/`per_page`. Errors use the API's
`{"error": {"code", "message"}}` shape. Public addresses come from documentation ranges
(203.0.113.0/24, 2001:db8::/32), so nothing can ever be sent to them.
"""

import ipaddress
from typing import Any

from .common import ApiStandIn, Reply, md5_fingerprint, now

LOCATIONS = {
    name: {
        "id": i,
        "name": name,
        "description": desc,
        "country": country,
        "city": city,
        "latitude": 0.0,
        "longitude": 0.0,
        "network_zone": zone,
    }
    for i, (name, desc, country, city, zone) in enumerate(
        [
            ("fsn1", "Falkenstein DC Park 1", "DE", "Falkenstein", "eu-central"),
            ("nbg1", "Nuremberg DC Park 1", "DE", "Nuremberg", "eu-central"),
            ("hel1", "Helsinki DC Park 1", "FI", "Helsinki", "eu-central"),
            ("ash", "Ashburn, VA", "US", "Ashburn, VA", "us-east"),
        ],
        start=1,
    )
}

SERVER_TYPES = {
    name: {
        "id": i,
        "name": name,
        "description": name.upper(),
        "category": "shared",
        "cores": cores,
        "memory": memory,
        "disk": disk,
        "prices": [],
        "storage_type": "local",
        "cpu_type": "shared",
        "architecture": arch,
        "deprecated": False,
        "deprecation": None,
        "included_traffic": 21990232555520,
        "locations": [
            {"id": loc["id"], "name": loc["name"], "deprecation": None}
            for loc in LOCATIONS.values()
        ],
    }
    for i, (name, cores, memory, disk, arch) in enumerate(
        [
            ("cx22", 2, 4.0, 40, "x86"),
            ("cx32", 4, 8.0, 80, "x86"),
            ("cpx21", 3, 4.0, 80, "x86"),
            ("cax11", 2, 4.0, 40, "arm"),
        ],
        start=101,
    )
}

IMAGES = [
    {
        "id": 200 + n * 2 + (arch == "arm"),
        "type": "system",
        "status": "available",
        "name": f"debian-{version}",
        "description": f"Debian {version}",
        "image_size": None,
        "disk_size": 5,
        "created": "2025-01-01T00:00:00+00:00",
        "created_from": None,
        "bound_to": None,
        "os_flavor": "debian",
        "os_version": str(version),
        "rapid_deploy": True,
        "protection": {"delete": False},
        "deprecated": None,
        "deleted": None,
        "labels": {},
        "architecture": arch,
    }
    for n, (version, arch) in enumerate([(12, "x86"), (12, "arm"), (13, "x86"), (13, "arm")])
]


def _datacenter(location: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": location["id"],
        "name": f"{location['name']}-dc1",
        "description": f"{location['description']} virtual DC 1",
        "location": location,
    }


def _matches_selector(labels: dict[str, str], selector: str) -> bool:
    """Hetzner's label selector: comma-separated `k`, `!k`, `k=v`, `k!=v` (all must hold)."""
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.split("=", 1)
            if labels.get(key.rstrip("=")) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class HcloudStandIn(ApiStandIn):
    """Stateful Hetzner Cloud API stand-in (see the module docstring for what it answers)."""

    prefix = "/v1"

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.servers: dict[int, dict[str, Any]] = {}
        self.networks: dict[int, dict[str, Any]] = {}
        self.ssh_keys: dict[int, dict[str, Any]] = {}
        self.actions: dict[int, dict[str, Any]] = {}
        # What each created server was sent as user_data, by server name.
        self.user_data: dict[str, str] = {}
        self._public = iter(ipaddress.ip_network("203.0.113.0/24").hosts())
        self._v6 = iter(ipaddress.ip_network("2001:db8::/32").subnets(new_prefix=64))

        r = self.route
        r("GET", r"/locations", lambda q, b: self._list("locations", list(LOCATIONS.values()), q))
        r(
            "GET",
            r"/datacenters",
            lambda q, b: self._list(
                "datacenters", [_datacenter(loc) for loc in LOCATIONS.values()], q
            ),
        )
        r(
            "GET",
            r"/server_types",
            lambda q, b: self._list("server_types", list(SERVER_TYPES.values()), q),
        )
        r(
            "GET",
            r"/server_types/(\d+)",
            lambda q, b, i: self._one("server_type", list(SERVER_TYPES.values()), i),
        )
        r("GET", r"/images", self._list_images)
        r("GET", r"/images/(\d+)", lambda q, b, i: self._one("image", IMAGES, i))
        r("GET", r"/ssh_keys", self._list_ssh_keys)
        r(
            "GET",
            r"/ssh_keys/(\d+)",
            lambda q, b, i: self._one("ssh_key", list(self.ssh_keys.values()), i),
        )
        r("POST", r"/ssh_keys", self._create_ssh_key)
        r("PUT", r"/ssh_keys/(\d+)", lambda q, b, i: self._update("ssh_key", self.ssh_keys, i, b))
        r("GET", r"/networks", lambda q, b: self._list("networks", list(self.networks.values()), q))
        r(
            "GET",
            r"/networks/(\d+)",
            lambda q, b, i: self._one("network", list(self.networks.values()), i),
        )
        r("POST", r"/networks", self._create_network)
        r("PUT", r"/networks/(\d+)", lambda q, b, i: self._update("network", self.networks, i, b))
        r("POST", r"/networks/(\d+)/actions/add_subnet", self._add_subnet)
        r("GET", r"/servers", self._list_servers)
        r(
            "GET",
            r"/servers/(\d+)",
            lambda q, b, i: self._one("server", list(self.servers.values()), i),
        )
        r("POST", r"/servers", self._create_server)
        r("PUT", r"/servers/(\d+)", lambda q, b, i: self._update("server", self.servers, i, b))
        r("POST", r"/servers/(\d+)/actions/attach_to_network", self._attach)
        r("POST", r"/servers/(\d+)/actions/poweron", self._poweron)
        r("GET", r"(?:/\w+)?/actions/(\d+)", self._get_action)

    # ------------------------------------------------------------------ errors
    def unauthorized(self) -> Reply:
        return 401, {"error": {"code": "unauthorized", "message": "unable to authenticate"}}

    def not_found(self, what: str) -> Reply:
        return 404, {"error": {"code": "not_found", "message": f"{what} not found"}}

    def invalid(self, message: str) -> Reply:
        return 400, {"error": {"code": "invalid_input", "message": message}}

    def conflict(self, message: str) -> Reply:
        return 409, {"error": {"code": "uniqueness_error", "message": message}}

    # ------------------------------------------------------------------ generic
    def _list(self, key: str, items: list[dict[str, Any]], query: dict[str, Any]) -> Reply:
        if "name" in query:
            items = [i for i in items if i.get("name") == query["name"]]
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 25))
        total = len(items)
        last = max(1, -(-total // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        pagination = {
            "page": page,
            "per_page": per_page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last else None,
            "last_page": last,
            "total_entries": total,
        }
        return 200, {key: chunk, "meta": {"pagination": pagination}}

    def _one(self, key: str, items: list[dict[str, Any]], ident: str) -> Reply:
        for item in items:
            if item["id"] == int(ident):
                return 200, {key: item}
        return self.not_found(f"{key} {ident}")

    def _update(self, key: str, store: dict[int, dict[str, Any]], ident: str, body: Any) -> Reply:
        item = store.get(int(ident))
        if item is None:
            return self.not_found(f"{key} {ident}")
        for field in ("name", "labels"):
            if field in body:
                item[field] = body[field]
        return 200, {key: item}

    def _action(self, command: str, resources: list[tuple[int, str]]) -> dict[str, Any]:
        action = {
            "id": self.new_id(),
            "command": command,
            "status": "success",
            "progress": 100,
            "started": now(),
            "finished": now(),
            "resources": [{"id": i, "type": t} for i, t in resources],
            "error": None,
        }
        self.actions[action["id"]] = action
        return action

    def _get_action(self, query: dict[str, Any], body: Any, ident: str) -> Reply:
        action = self.actions.get(int(ident))
        return (200, {"action": action}) if action else self.not_found(f"action {ident}")

    # ------------------------------------------------------------------ images, keys
    def _list_images(self, query: dict[str, Any], body: Any) -> Reply:
        items = IMAGES
        if "architecture" in query:
            items = [i for i in items if i["architecture"] == query["architecture"]]
        return self._list("images", items, query)

    def _list_ssh_keys(self, query: dict[str, Any], body: Any) -> Reply:
        items = list(self.ssh_keys.values())
        if "fingerprint" in query:
            items = [k for k in items if k["fingerprint"] == query["fingerprint"]]
        return self._list("ssh_keys", items, query)

    def _create_ssh_key(self, query: dict[str, Any], body: Any) -> Reply:
        name, public_key = body.get("name"), body.get("public_key", "")
        if not name or len(public_key.split()) < 2:
            return self.invalid("name and public_key are required")
        fingerprint = md5_fingerprint(public_key)
        for key in self.ssh_keys.values():
            if key["name"] == name or key["fingerprint"] == fingerprint:
                return self.conflict("SSH key with the same name or fingerprint already exists")
        key = {
            "id": self.new_id(),
            "name": name,
            "fingerprint": fingerprint,
            "public_key": public_key,
            "labels": body.get("labels") or {},
            "created": now(),
        }
        self.ssh_keys[key["id"]] = key
        return 201, {"ssh_key": key}

    # ------------------------------------------------------------------ networks
    def _create_network(self, query: dict[str, Any], body: Any) -> Reply:
        name, ip_range = body.get("name"), body.get("ip_range")
        if not name or not ip_range:
            return self.invalid("name and ip_range are required")
        if any(n["name"] == name for n in self.networks.values()):
            return self.conflict("network name is already used")
        network = {
            "id": self.new_id(),
            "name": name,
            "ip_range": str(ipaddress.ip_network(ip_range)),
            "subnets": [],
            "routes": body.get("routes") or [],
            "servers": [],
            "load_balancers": [],
            "protection": {"delete": False},
            "labels": body.get("labels") or {},
            "created": now(),
            "expose_routes_to_vswitch": bool(body.get("expose_routes_to_vswitch")),
        }
        for subnet in body.get("subnets") or []:
            network["subnets"].append(self._subnet(network, subnet))
        self.networks[network["id"]] = network
        return 201, {"network": network}

    def _subnet(self, network: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
        subnet = ipaddress.ip_network(body["ip_range"])
        return {
            "type": body.get("type", "cloud"),
            "ip_range": str(subnet),
            "network_zone": body["network_zone"],
            "gateway": str(next(ipaddress.ip_network(network["ip_range"]).hosts())),
            "vswitch_id": body.get("vswitch_id"),
        }

    def _add_subnet(self, query: dict[str, Any], body: Any, ident: str) -> Reply:
        network = self.networks.get(int(ident))
        if network is None:
            return self.not_found(f"network {ident}")
        subnet = ipaddress.ip_network(body.get("ip_range", ""))
        if not subnet.subnet_of(ipaddress.ip_network(network["ip_range"])):
            return self.invalid("subnet is not inside the network's ip_range")
        if any(ipaddress.ip_network(s["ip_range"]).overlaps(subnet) for s in network["subnets"]):
            return self.conflict("subnet overlaps an existing subnet")
        network["subnets"].append(self._subnet(network, body))
        return 201, {"action": self._action("add_subnet", [(network["id"], "network")])}

    def _private_ip(self, network: dict[str, Any]) -> str:
        used = {
            p["ip"]
            for s in self.servers.values()
            for p in s["private_net"]
            if p["network"] == network["id"]
        }
        for subnet in network["subnets"]:
            # .1 is the gateway; Hetzner hands out addresses from .2 on.
            for host in list(ipaddress.ip_network(subnet["ip_range"]).hosts())[1:]:
                if str(host) not in used:
                    return str(host)
        raise ValueError("network has no subnet with free addresses")

    # ------------------------------------------------------------------ servers
    def _list_servers(self, query: dict[str, Any], body: Any) -> Reply:
        items = list(self.servers.values())
        if "label_selector" in query:
            items = [s for s in items if _matches_selector(s["labels"], query["label_selector"])]
        if "status" in query:
            wanted = query["status"] if isinstance(query["status"], list) else [query["status"]]
            items = [s for s in items if s["status"] in wanted]
        return self._list("servers", items, query)

    def _by_id_or_name(self, items: list[dict[str, Any]], value: Any) -> dict[str, Any] | None:
        for item in items:
            if item["id"] == value or item["name"] == value or str(item["id"]) == str(value):
                return item
        return None

    def add_server(
        self,
        name: str,
        server_type: str = "cx22",
        image: str = "debian-12",
        location: str = "nbg1",
        labels: dict[str, str] | None = None,
        networks: list[int] | None = None,
        user_data: str | None = None,
        status: str = "running",
    ) -> dict[str, Any]:
        """Create a server directly (tests use it to seed the stand-in)."""
        stype = SERVER_TYPES[server_type]
        img = next(
            i for i in IMAGES if i["name"] == image and i["architecture"] == stype["architecture"]
        )
        server_id = self.new_id()
        v6 = next(self._v6)
        server = {
            "id": server_id,
            "name": name,
            "status": status,
            "created": now(),
            "public_net": {
                "ipv4": {
                    "id": self.new_id(),
                    "ip": str(next(self._public)),
                    "blocked": False,
                    "dns_ptr": "",
                },
                "ipv6": {"id": self.new_id(), "ip": str(v6), "blocked": False, "dns_ptr": []},
                "floating_ips": [],
                "firewalls": [],
            },
            "private_net": [],
            "server_type": stype,
            "datacenter": _datacenter(LOCATIONS[location]),
            "image": img,
            "iso": None,
            "rescue_enabled": False,
            "locked": False,
            "backup_window": None,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": stype["included_traffic"],
            "protection": {"delete": False, "rebuild": False},
            "labels": labels or {},
            "volumes": [],
            "load_balancers": [],
            "primary_disk_size": stype["disk"],
            "placement_group": None,
        }
        self.servers[server_id] = server
        for network_id in networks or []:
            self._attach_network(server, self.networks[network_id])
        if user_data is not None:
            self.user_data[name] = user_data
        return server

    def _attach_network(self, server: dict[str, Any], network: dict[str, Any]) -> None:
        ip = self._private_ip(network)
        server["private_net"].append(
            {
                "network": network["id"],
                "ip": ip,
                "alias_ips": [],
                "mac_address": "86:00:00:00:00:01",
            }
        )
        network["servers"].append(server["id"])

    def _create_server(self, query: dict[str, Any], body: Any) -> Reply:
        for field in ("name", "server_type", "image"):
            if not body.get(field):
                return self.invalid(f"{field} is required")
        if any(s["name"] == body["name"] for s in self.servers.values()):
            return self.conflict("server name is already used")
        stype = self._by_id_or_name(list(SERVER_TYPES.values()), body["server_type"])
        image = self._by_id_or_name(IMAGES, body["image"])
        location = self._by_id_or_name(list(LOCATIONS.values()), body.get("location") or "nbg1")
        if stype is None or image is None or location is None:
            return self.invalid("unknown server_type, image or location")
        if image["architecture"] != stype["architecture"]:
            return self.invalid("image architecture does not match the server type")
        for key in body.get("ssh_keys") or []:
            if self._by_id_or_name(list(self.ssh_keys.values()), key) is None:
                return self.invalid(f"unknown ssh key {key}")
        networks = []
        for network_id in body.get("networks") or []:
            network = self.networks.get(int(network_id))
            if network is None or not network["subnets"]:
                return self.invalid(f"network {network_id} does not exist or has no subnet")
            networks.append(network["id"])
        server = self.add_server(
            body["name"],
            server_type=stype["name"],
            image=image["name"],
            location=location["name"],
            labels=body.get("labels") or {},
            networks=networks,
            user_data=body.get("user_data"),
            status="running" if body.get("start_after_create", True) else "off",
        )
        return 201, {
            "server": server,
            "action": self._action("create_server", [(server["id"], "server")]),
            "next_actions": [self._action("start_server", [(server["id"], "server")])],
            "root_password": None,
        }

    def _attach(self, query: dict[str, Any], body: Any, ident: str) -> Reply:
        server, network = (
            self.servers.get(int(ident)),
            self.networks.get(int(body.get("network", 0))),
        )
        if server is None or network is None:
            return self.not_found("server or network")
        if any(p["network"] == network["id"] for p in server["private_net"]):
            return self.conflict("server is already attached to this network")
        self._attach_network(server, network)
        return 201, {"action": self._action("attach_to_network", [(server["id"], "server")])}

    def _poweron(self, query: dict[str, Any], body: Any, ident: str) -> Reply:
        server = self.servers.get(int(ident))
        if server is None:
            return self.not_found(f"server {ident}")
        server["status"] = "running"
        return 201, {"action": self._action("start_server", [(server["id"], "server")])}
