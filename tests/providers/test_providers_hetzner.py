"""Hetzner Cloud: the inventory plugin config and the provisioning playbook, against the
loopback stand-in of the Hetzner Cloud API (tests/providers/standins/hcloud_api.py)."""

import json

import yaml
from conftest import ROOT, Provisioned, hcloud_env, inventory, run
from standins.hcloud_api import HcloudStandIn

CONFIG = ROOT / "inventories" / "hetzner" / "hcloud.yml"
PROJECT = {"project": "fastapi-vps"}


def _seed(standin: HcloudStandIn) -> None:
    """Servers of this project in every combination of roles, plus servers it must ignore."""
    net = standin._create_network({}, {"name": "fastapi-vps", "ip_range": "10.10.0.0/16"})[1][
        "network"
    ]
    standin._add_subnet(
        {}, {"ip_range": "10.10.1.0/24", "network_zone": "eu-central"}, str(net["id"])
    )
    other = standin._create_network({}, {"name": "other", "ip_range": "10.20.0.0/16"})[1]["network"]
    standin._add_subnet(
        {}, {"ip_range": "10.20.1.0/24", "network_zone": "eu-central"}, str(other["id"])
    )
    standin.add_server("web1", labels={**PROJECT, "web": "true"}, networks=[other["id"], net["id"]])
    standin.add_server("app1", labels={**PROJECT, "app": "true"}, networks=[net["id"]])
    standin.add_server(
        "app2", labels={**PROJECT, "app": "true"}, networks=[net["id"]], image="debian-13"
    )
    standin.add_server("worker1", labels={**PROJECT, "worker": "true"}, networks=[net["id"]])
    standin.add_server(
        "data1", labels={**PROJECT, "db": "true", "redis": "true"}, networks=[net["id"]]
    )
    standin.add_server(
        "solo1",
        labels={**PROJECT, "web": "true", "app": "true", "db": "true", "redis": "true"},
        networks=[net["id"]],
    )
    # Another project's server, and one of ours that is switched off: neither is a host.
    standin.add_server(
        "foreign1", labels={"project": "other", "web": "true"}, networks=[other["id"]]
    )
    standin.add_server(
        "stopped1", labels={**PROJECT, "web": "true"}, networks=[net["id"]], status="off"
    )


def test_inventory_groups_servers_by_role_label(hcloud: HcloudStandIn) -> None:
    _seed(hcloud)
    inv = inventory(CONFIG, hcloud_env(hcloud))
    assert inv.groups["web"] == {"web1", "solo1"}
    assert inv.groups["app"] == {"app1", "app2", "solo1"}
    assert inv.groups["worker"] == {"worker1"}
    assert inv.groups["db"] == {"data1", "solo1"}
    assert inv.groups["redis"] == {"data1", "solo1"}
    assert set(inv.hostvars) == {"web1", "app1", "app2", "worker1", "data1", "solo1"}


def test_inventory_ssh_goes_public_internal_traffic_private(hcloud: HcloudStandIn) -> None:
    _seed(hcloud)
    inv = inventory(CONFIG, hcloud_env(hcloud))
    servers = {s["name"]: s for s in hcloud.servers.values()}
    for host, hostvars in inv.hostvars.items():
        server = servers[host]
        assert hostvars["ansible_host"] == server["public_net"]["ipv4"]["ip"]
        assert hostvars["ansible_host"].startswith("203.0.113.")
        assert hostvars["private_address"].startswith("10.10.1."), hostvars
    # web1 is in two private networks: the project's address is the one picked.
    web1 = [p["ip"] for p in servers["web1"]["private_net"]]
    assert inv.hostvars["web1"]["private_address"] == web1[1]
    assert len({h["private_address"] for h in inv.hostvars.values()}) == len(inv.hostvars)


def test_inventory_takes_group_vars_of_the_inventory(hcloud: HcloudStandIn) -> None:
    _seed(hcloud)
    inv = inventory(CONFIG.parent, hcloud_env(hcloud))
    assert inv.hostvars["app1"]["base_admin_user"] == "deploy"
    assert inv.hostvars["app1"]["ansible_user"] == "{{ base_admin_user }}"


def test_inventory_fails_with_a_wrong_token(hcloud: HcloudStandIn) -> None:
    _seed(hcloud)
    result = run(
        ["ansible-inventory", "-i", str(CONFIG), "--list"], hcloud_env(hcloud, token="wrong")
    )
    assert result.returncode != 0
    assert "Invalid Hetzner Cloud API Token" in result.stderr


def test_token_is_not_in_the_repository() -> None:
    for path in (ROOT / "inventories" / "hetzner").rglob("*.yml"):
        data = yaml.safe_load(path.read_text()) or {}
        assert "api_token" not in data and "token" not in data, path


def test_provision_first_run_creates_everything(hcloud_provisioned: Provisioned) -> None:
    run1, standin = hcloud_provisioned.first, hcloud_provisioned.standin
    assert run1.returncode == 0, run1.output
    assert run1.changed == 4, run1.output  # ssh key, network, subnet, servers
    assert not standin.unknown
    topology = yaml.safe_load(
        (ROOT / "inventories/hetzner/group_vars/all/provision.yml").read_text()
    )
    servers = {s["name"]: s for s in standin.servers.values()}
    assert set(servers) == {s["name"] for s in topology["provision_servers"]}
    (network,) = standin.networks.values()
    assert network["name"] == "fastapi-vps"
    assert [s["ip_range"] for s in network["subnets"]] == ["10.10.1.0/24"]
    for wanted in topology["provision_servers"]:
        server = servers[wanted["name"]]
        assert server["server_type"]["name"] == wanted["type"]
        assert server["image"]["name"] == wanted["image"]
        assert server["datacenter"]["location"]["name"] == "nbg1"
        assert server["labels"] == {**PROJECT, **dict.fromkeys(wanted["roles"], "true")}
        assert [p["network"] for p in server["private_net"]] == [network["id"]]
        assert standin.user_data[wanted["name"]].startswith("#cloud-config\n")


def test_provision_second_run_changes_nothing(hcloud_provisioned: Provisioned) -> None:
    run2 = hcloud_provisioned.second
    assert run2.returncode == 0, run2.output
    assert run2.changed == 0, run2.output
    assert run2.writes == []
    assert len(hcloud_provisioned.standin.servers) == 3


def test_provisioned_servers_come_out_of_the_inventory(hcloud_provisioned: Provisioned) -> None:
    inv = inventory(hcloud_provisioned.inventory_source, hcloud_provisioned.env)
    assert inv.groups["web"] == {"web1"}
    assert inv.groups["app"] == {"app1"}
    assert inv.groups["db"] == inv.groups["redis"] == {"data1"}
    assert {h["private_address"] for h in inv.hostvars.values()} == {
        "10.10.1.2",
        "10.10.1.3",
        "10.10.1.4",
    }


def test_provision_refuses_a_topology_with_an_unknown_role(
    hcloud: HcloudStandIn, admin_key: str
) -> None:
    bad = {
        "base_admin_ssh_keys": [admin_key],
        "provision_servers": [
            {"name": "x1", "type": "cx22", "image": "debian-12", "roles": ["mail"]}
        ],
    }
    result = run(
        [
            "ansible-playbook",
            "-i",
            "inventories/hetzner",
            "playbooks/provision-hetzner.yml",
            "-e",
            json.dumps(bad),
        ],
        hcloud_env(hcloud),
    )
    assert result.returncode != 0
    assert "roles must be among" in result.stdout
    assert hcloud.writes() == []
