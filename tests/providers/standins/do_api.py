"""A loopback stand-in for the part of the DigitalOcean API (v2) that this project uses.

Implemented, with state kept in memory:
  GET  /account                                   (token check of every module)
  GET  /firewalls                                 (always empty; the droplet module lists them)
  GET  /account/keys/{fingerprint}; POST /account/keys; PUT /account/keys/{fingerprint}
  GET  /vpcs[?page=]; POST /vpcs; PUT /vpcs/{id}
  GET  /droplets[?page=&per_page=&tag_name=], /droplets/{id}; POST /droplets
  POST /droplets/{id}/actions; GET /droplets/{id}/actions/{id}  (every action completes at once)
Lists carry `links.pages.next` and `meta.total` and honour `page`/`per_page`. Errors use the
API's `{"id", "message"}` shape. Public addresses come from 203.0.113.0/24 (documentation).
"""

import ipaddress
import uuid
from typing import Any

from .common import ApiStandIn, Reply, md5_fingerprint, now

REGIONS = {"fra1": "Frankfurt 1", "ams3": "Amsterdam 3", "nyc3": "New York 3", "lon1": "London 1"}
SIZES = {
    "s-1vcpu-1gb": (1, 1024, 25),
    "s-1vcpu-2gb": (1, 2048, 50),
    "s-2vcpu-2gb": (2, 2048, 60),
    "s-2vcpu-4gb": (2, 4096, 80),
}
IMAGES = {
    "debian-12-x64": {
        "id": 301,
        "name": "12 x64",
        "distribution": "Debian",
        "slug": "debian-12-x64",
    },
    "debian-13-x64": {
        "id": 302,
        "name": "13 x64",
        "distribution": "Debian",
        "slug": "debian-13-x64",
    },
}


class DigitalOceanStandIn(ApiStandIn):
    """Stateful DigitalOcean API stand-in (see the module docstring for what it answers)."""

    prefix = "/v2"

    def __init__(self, token: str) -> None:
        super().__init__(token)
        self.droplets: dict[int, dict[str, Any]] = {}
        self.vpcs: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, dict[str, Any]] = {}
        self.actions: dict[int, dict[str, Any]] = {}
        # What each created droplet was sent as user_data, by droplet name.
        self.user_data: dict[str, str] = {}
        self._public = iter(ipaddress.ip_network("203.0.113.0/24").hosts())

        r = self.route
        r(
            "GET",
            r"/account",
            lambda q, b: (200, {"account": {"uuid": "standin", "status": "active"}}),
        )
        r("GET", r"/firewalls", lambda q, b: self._list("firewalls", [], q))
        r("GET", r"/account/keys/([0-9a-f:]+)", self._get_key)
        r("POST", r"/account/keys", self._create_key)
        r("PUT", r"/account/keys/([0-9a-f:]+)", self._rename_key)
        r("GET", r"/vpcs", lambda q, b: self._list("vpcs", list(self.vpcs.values()), q))
        r("POST", r"/vpcs", self._create_vpc)
        r("PUT", r"/vpcs/([0-9a-f-]+)", self._update_vpc)
        r("GET", r"/droplets", self._list_droplets)
        r("GET", r"/droplets/(\d+)", self._get_droplet)
        r("POST", r"/droplets", self._create_droplet)
        r("POST", r"/droplets/(\d+)/actions", self._droplet_action)
        r("GET", r"/droplets/(\d+)/actions/(\d+)", self._get_action)

    # ------------------------------------------------------------------ errors
    def unauthorized(self) -> Reply:
        return 401, {"id": "Unauthorized", "message": "Unable to authenticate you."}

    def not_found(self, what: str) -> Reply:
        return 404, {
            "id": "not_found",
            "message": f"The resource you were accessing could not be found: {what}",
        }

    def invalid(self, message: str) -> Reply:
        return 422, {"id": "unprocessable_entity", "message": message}

    # ------------------------------------------------------------------ generic
    def _list(self, key: str, items: list[dict[str, Any]], query: dict[str, Any]) -> Reply:
        page, per_page = int(query.get("page", 1)), int(query.get("per_page", 20))
        chunk = items[(page - 1) * per_page : page * per_page]
        pages: dict[str, str] = {}
        if page * per_page < len(items):
            pages["next"] = f"{self.url}/{key}?page={page + 1}&per_page={per_page}"
        return 200, {key: chunk, "links": {"pages": pages}, "meta": {"total": len(items)}}

    # ------------------------------------------------------------------ SSH keys
    def _get_key(self, query: dict[str, Any], body: Any, fp: str) -> Reply:
        key = self.keys.get(fp)
        return (200, {"ssh_key": key}) if key else self.not_found(f"ssh key {fp}")

    def _create_key(self, query: dict[str, Any], body: Any) -> Reply:
        public_key, name = body.get("public_key", ""), body.get("name")
        if not name or len(public_key.split()) < 2:
            return self.invalid("name and public_key are required")
        fp = md5_fingerprint(public_key)
        if fp in self.keys:
            return self.invalid("SSH Key is already in use on your account")
        key = {"id": self.new_id(), "fingerprint": fp, "public_key": public_key, "name": name}
        self.keys[fp] = key
        return 201, {"ssh_key": key}

    def _rename_key(self, query: dict[str, Any], body: Any, fp: str) -> Reply:
        key = self.keys.get(fp)
        if key is None:
            return self.not_found(f"ssh key {fp}")
        key["name"] = body.get("name", key["name"])
        return 200, {"ssh_key": key}

    # ------------------------------------------------------------------ VPCs
    def _create_vpc(self, query: dict[str, Any], body: Any) -> Reply:
        name, region = body.get("name"), body.get("region")
        if not name or region not in REGIONS:
            return self.invalid("name and a known region are required")
        if any(v["name"] == name for v in self.vpcs.values()):
            return self.invalid("A VPC with this name already exists")
        ip_range = str(ipaddress.ip_network(body.get("ip_range") or "10.110.0.0/20"))
        for vpc in self.vpcs.values():
            if vpc["region"] == region and ipaddress.ip_network(vpc["ip_range"]).overlaps(
                ipaddress.ip_network(ip_range)
            ):
                return self.invalid("This range overlaps with another VPC network in your account")
        vpc_id = str(uuid.uuid4())
        vpc = {
            "id": vpc_id,
            "urn": f"do:vpc:{vpc_id}",
            "name": name,
            "description": body.get("description") or "",
            "region": region,
            "ip_range": ip_range,
            "default": False,
            "created_at": now(),
        }
        self.vpcs[vpc_id] = vpc
        return 201, {"vpc": vpc}

    def _update_vpc(self, query: dict[str, Any], body: Any, vpc_id: str) -> Reply:
        vpc = self.vpcs.get(vpc_id)
        if vpc is None:
            return self.not_found(f"vpc {vpc_id}")
        for field in ("name", "description"):
            if field in body:
                vpc[field] = body[field]
        return 200, {"vpc": vpc}

    def _default_vpc(self, region: str) -> dict[str, Any]:
        for vpc in self.vpcs.values():
            if vpc["region"] == region and vpc["default"]:
                return vpc
        vpc_id = str(uuid.uuid4())
        vpc = {
            "id": vpc_id,
            "urn": f"do:vpc:{vpc_id}",
            "name": f"default-{region}",
            "description": "",
            "region": region,
            "ip_range": "10.114.0.0/20",
            "default": True,
            "created_at": now(),
        }
        self.vpcs[vpc_id] = vpc
        return vpc

    # ------------------------------------------------------------------ droplets
    def _list_droplets(self, query: dict[str, Any], body: Any) -> Reply:
        items = list(self.droplets.values())
        if "tag_name" in query:
            items = [d for d in items if query["tag_name"] in d["tags"]]
        return self._list("droplets", items, query)

    def _get_droplet(self, query: dict[str, Any], body: Any, ident: str) -> Reply:
        droplet = self.droplets.get(int(ident))
        return (200, {"droplet": droplet}) if droplet else self.not_found(f"droplet {ident}")

    def add_droplet(
        self,
        name: str,
        size: str = "s-1vcpu-1gb",
        image: str = "debian-12-x64",
        region: str = "fra1",
        tags: list[str] | None = None,
        vpc_uuid: str | None = None,
        user_data: str | None = None,
    ) -> dict[str, Any]:
        """Create a droplet directly (tests use it to seed the stand-in)."""
        vpc = self.vpcs[vpc_uuid] if vpc_uuid else self._default_vpc(region)
        used = {
            n["ip_address"]
            for d in self.droplets.values()
            if d["vpc_uuid"] == vpc["id"]
            for n in d["networks"]["v4"]
            if n["type"] == "private"
        }
        hosts = list(ipaddress.ip_network(vpc["ip_range"]).hosts())[1:]
        private = next(str(h) for h in hosts if str(h) not in used)
        vcpus, memory, disk = SIZES[size]
        droplet = {
            "id": self.new_id(),
            "name": name,
            "memory": memory,
            "vcpus": vcpus,
            "disk": disk,
            "locked": False,
            "status": "new",
            "created_at": now(),
            "features": ["private_networking"],
            "backup_ids": [],
            "snapshot_ids": [],
            "image": IMAGES[image],
            "volume_ids": [],
            "size": {"slug": size, "memory": memory, "vcpus": vcpus, "disk": disk},
            "size_slug": size,
            "networks": {
                "v4": [
                    {
                        "ip_address": str(next(self._public)),
                        "netmask": "255.255.255.0",
                        "gateway": "203.0.113.1",
                        "type": "public",
                    },
                    {
                        "ip_address": private,
                        "netmask": str(ipaddress.ip_network(vpc["ip_range"]).netmask),
                        "gateway": str(hosts[0] - 1),
                        "type": "private",
                    },
                ],
                "v6": [],
            },
            "region": {"slug": region, "name": REGIONS[region], "available": True},
            "tags": list(tags or []),
            "vpc_uuid": vpc["id"],
        }
        self.droplets[droplet["id"]] = droplet
        if user_data is not None:
            self.user_data[name] = user_data
        return droplet

    def _create_droplet(self, query: dict[str, Any], body: Any) -> Reply:
        for field in ("name", "size", "image", "region"):
            if not body.get(field):
                return self.invalid(f"{field} is required")
        if (
            body["size"] not in SIZES
            or body["image"] not in IMAGES
            or body["region"] not in REGIONS
        ):
            return self.invalid("unknown size, image or region")
        for key in body.get("ssh_keys") or []:
            if key not in self.keys and not any(
                str(k["id"]) == str(key) for k in self.keys.values()
            ):
                return self.invalid(f"unknown ssh key {key}")
        vpc_uuid = body.get("vpc_uuid")
        if vpc_uuid and (
            vpc_uuid not in self.vpcs or self.vpcs[vpc_uuid]["region"] != body["region"]
        ):
            return self.invalid("vpc_uuid is not a VPC in the droplet's region")
        droplet = self.add_droplet(
            body["name"],
            size=body["size"],
            image=body["image"],
            region=body["region"],
            tags=body.get("tags"),
            vpc_uuid=vpc_uuid,
            user_data=body.get("user_data"),
        )
        reply = dict(droplet)
        # Booting takes no time here: the next GET sees the droplet active.
        droplet["status"] = "active"
        return 202, {"droplet": reply, "links": {"actions": []}}

    def _droplet_action(self, query: dict[str, Any], body: Any, ident: str) -> Reply:
        droplet = self.droplets.get(int(ident))
        if droplet is None:
            return self.not_found(f"droplet {ident}")
        kind = body.get("type")
        if kind == "power_on":
            droplet["status"] = "active"
        elif kind == "power_off":
            droplet["status"] = "off"
        else:
            return self.invalid(f"action type {kind} is not implemented by the stand-in")
        action = {
            "id": self.new_id(),
            "status": "completed",
            "type": kind,
            "started_at": now(),
            "completed_at": now(),
            "resource_id": droplet["id"],
            "resource_type": "droplet",
            "region_slug": droplet["region"]["slug"],
        }
        self.actions[action["id"]] = action
        return 201, {"action": action}

    def _get_action(self, query: dict[str, Any], body: Any, ident: str, action_id: str) -> Reply:
        action = self.actions.get(int(action_id))
        return (200, {"action": action}) if action else self.not_found(f"action {action_id}")
