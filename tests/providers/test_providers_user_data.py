"""The cloud-init user-data the provisioning playbooks send: what it does, and that Debian's
cloud-init accepts it (`cloud-init schema` in a throwaway lab container)."""

import pytest
import yaml
from conftest import CloudInitBox, Provisioned


@pytest.fixture(scope="module", params=["hetzner", "digitalocean"])
def user_data(
    request: pytest.FixtureRequest, hcloud_provisioned: Provisioned, do_provisioned: Provisioned
) -> dict[str, str]:
    """What each server was sent, as the stand-in received it."""
    provisioned = hcloud_provisioned if request.param == "hetzner" else do_provisioned
    assert provisioned.first.returncode == 0, provisioned.first.output
    return provisioned.standin.user_data


def test_every_server_gets_the_same_document(user_data: dict[str, str]) -> None:
    assert len(user_data) == 3
    assert len(set(user_data.values())) == 1


def test_admin_user_with_key_and_sudo(user_data: dict[str, str], admin_key: str) -> None:
    doc = yaml.safe_load(next(iter(user_data.values())))
    (user,) = doc["users"]
    assert user["name"] == "deploy"
    assert user["ssh_authorized_keys"] == [admin_key]
    assert user["sudo"] == "ALL=(ALL) NOPASSWD:ALL"
    assert user["lock_passwd"] is True


def test_python_present_and_root_login_off(user_data: dict[str, str]) -> None:
    doc = yaml.safe_load(next(iter(user_data.values())))
    assert "python3" in doc["packages"]
    assert doc["disable_root"] is True
    assert doc["ssh_pwauth"] is False
    (dropin,) = [f for f in doc["write_files"] if f["path"].startswith("/etc/ssh/sshd_config.d/")]
    assert "PermitRootLogin no" in dropin["content"].splitlines()
    assert "PasswordAuthentication no" in dropin["content"].splitlines()


def test_cloud_init_schema_accepts_it(
    user_data: dict[str, str], cloud_init_box: CloudInitBox
) -> None:
    result = cloud_init_box.schema(next(iter(user_data.values())))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_cloud_init_schema_would_reject_a_broken_document(cloud_init_box: CloudInitBox) -> None:
    # Wrong value types: the check must fail here, or the test above proves nothing.
    result = cloud_init_box.schema(
        "#cloud-config\nusers:\n  - name: deploy\n    lock_passwd: maybe\nssh_pwauth: 3\n"
    )
    assert result.returncode != 0, result.stdout + result.stderr
    assert "lock_passwd" in result.stdout + result.stderr
