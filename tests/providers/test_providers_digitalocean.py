"""DigitalOcean: the inventory plugin config and the provisioning playbook, against the
loopback stand-in of the DigitalOcean API (tests/providers/standins/do_api.py)."""

from pathlib import Path

import yaml
from conftest import ROOT, TOKEN, Provisioned, ansible_env, do_inventory_dir, inventory, run
from standins.do_api import DigitalOceanStandIn


def _seed(standin: DigitalOceanStandIn) -> None:
    """Droplets of this project in every combination of roles, plus one it must ignore."""
    vpc = standin._create_vpc(
        {}, {"name": "fastapi-vps", "region": "fra1", "ip_range": "10.10.10.0/24"}
    )
    vpc_id = vpc[1]["vpc"]["id"]
    for name, roles in [
        ("web1", ["web"]),
        ("app1", ["app"]),
        ("app2", ["app"]),
        ("worker1", ["worker"]),
        ("data1", ["db", "redis"]),
        ("solo1", ["web", "app", "db", "redis"]),
    ]:
        standin.add_droplet(
            name, tags=["fastapi-vps", *(f"role:{r}" for r in roles)], vpc_uuid=vpc_id
        )
    standin.add_droplet("foreign1", tags=["other", "role:web"])


def _env() -> dict[str, str]:
    return ansible_env(DO_API_TOKEN=TOKEN)


def test_inventory_groups_droplets_by_role_tag(do_api: DigitalOceanStandIn, tmp_path: Path) -> None:
    _seed(do_api)
    inv = inventory(do_inventory_dir(do_api, tmp_path / "inv") / "digitalocean.yml", _env())
    assert inv.groups["web"] == {"web1", "solo1"}
    assert inv.groups["app"] == {"app1", "app2", "solo1"}
    assert inv.groups["worker"] == {"worker1"}
    assert inv.groups["db"] == {"data1", "solo1"}
    assert inv.groups["redis"] == {"data1", "solo1"}
    assert set(inv.hostvars) == {"web1", "app1", "app2", "worker1", "data1", "solo1"}


def test_inventory_ssh_goes_public_internal_traffic_private(
    do_api: DigitalOceanStandIn, tmp_path: Path
) -> None:
    _seed(do_api)
    inv = inventory(do_inventory_dir(do_api, tmp_path / "inv") / "digitalocean.yml", _env())
    droplets = {d["name"]: d for d in do_api.droplets.values()}
    for host, hostvars in inv.hostvars.items():
        v4 = {n["type"]: n["ip_address"] for n in droplets[host]["networks"]["v4"]}
        assert hostvars["ansible_host"] == v4["public"]
        assert hostvars["private_address"] == v4["private"]
        assert hostvars["private_address"].startswith("10.10.10.")


def test_inventory_reads_every_page(do_api: DigitalOceanStandIn, tmp_path: Path) -> None:
    for n in range(205):
        do_api.add_droplet(f"app{n}", tags=["fastapi-vps", "role:app"])
    inv = inventory(do_inventory_dir(do_api, tmp_path / "inv") / "digitalocean.yml", _env())
    assert len(inv.groups["app"]) == 205


def test_inventory_fails_with_a_wrong_token(do_api: DigitalOceanStandIn, tmp_path: Path) -> None:
    _seed(do_api)
    config = do_inventory_dir(do_api, tmp_path / "inv") / "digitalocean.yml"
    result = run(
        ["ansible-inventory", "-i", str(config), "--list"], ansible_env(DO_API_TOKEN="wrong")
    )
    assert result.returncode != 0
    assert "401" in result.stderr


def test_token_comes_from_the_environment() -> None:
    config = yaml.safe_load((ROOT / "inventories/digitalocean/digitalocean.yml").read_text())
    assert config["oauth_token"] == "{{ lookup('ansible.builtin.env', 'DO_API_TOKEN') }}"


def test_provision_first_run_creates_everything(do_provisioned: Provisioned) -> None:
    run1, standin = do_provisioned.first, do_provisioned.standin
    assert run1.returncode == 0, run1.output
    assert run1.changed == 3, run1.output  # ssh key, VPC, droplets
    assert not standin.unknown
    topology = yaml.safe_load(
        (ROOT / "inventories/digitalocean/group_vars/all/provision.yml").read_text()
    )
    droplets = {d["name"]: d for d in standin.droplets.values()}
    assert set(droplets) == {s["name"] for s in topology["provision_servers"]}
    (vpc,) = standin.vpcs.values()
    assert (vpc["name"], vpc["region"], vpc["ip_range"]) == ("fastapi-vps", "fra1", "10.10.10.0/24")
    (key,) = standin.keys.values()
    for wanted in topology["provision_servers"]:
        droplet = droplets[wanted["name"]]
        assert droplet["size_slug"] == wanted["type"]
        assert droplet["image"]["slug"] == f"{wanted['image']}-x64"
        assert droplet["region"]["slug"] == "fra1"
        assert droplet["vpc_uuid"] == vpc["id"]
        assert droplet["tags"] == ["fastapi-vps", *(f"role:{r}" for r in wanted["roles"])]
        assert droplet["status"] == "active"
        assert standin.user_data[wanted["name"]].startswith("#cloud-config\n")
    assert key["name"] == "fastapi-vps-deploy-0"


def test_provision_second_run_changes_nothing(do_provisioned: Provisioned) -> None:
    run2 = do_provisioned.second
    assert run2.returncode == 0, run2.output
    assert run2.changed == 0, run2.output
    # The VPC module always re-sends the VPC's name and description (and reports no change).
    assert [w for w in run2.writes if not w[1].startswith("/v2/vpcs/")] == []
    assert len(do_provisioned.standin.droplets) == 3


def test_provisioned_droplets_come_out_of_the_inventory(do_provisioned: Provisioned) -> None:
    inv = inventory(do_provisioned.inventory_source, do_provisioned.env)
    assert inv.groups["web"] == {"web1"}
    assert inv.groups["app"] == {"app1"}
    assert inv.groups["db"] == inv.groups["redis"] == {"data1"}
    assert {h["private_address"] for h in inv.hostvars.values()} == {
        "10.10.10.2",
        "10.10.10.3",
        "10.10.10.4",
    }
