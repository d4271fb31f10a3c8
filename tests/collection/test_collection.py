"""The collection as a user gets it: built into a tarball, installed with ansible-galaxy into an
empty directory outside the checkout, documented by ansible-doc, clean under ansible-test sanity.

The fleet's run (tests/fleet) deploys from the same kind of installation (collectionlib.py).
"""

import getpass
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collectionlib import COLLECTION, NAME, PROJECT, install, pip_bootstrap_for_ansible_test, tool


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return install(tmp_path_factory.mktemp("collections"))


def run(*cmd: str, collections: Path, cwd: Path | None = None) -> str:
    result = subprocess.run(
        list(cmd),
        cwd=cwd,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(collections)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, (
        f"{' '.join(cmd)}\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
    )
    return result.stdout


def test_the_tarball_installs_with_its_dependencies_in_bounds(installed: Path) -> None:
    root = installed / "ansible_collections" / "fastapi_vps" / "stack"
    manifest = json.loads((root / "MANIFEST.json").read_text())
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert manifest["collection_info"]["version"] == galaxy["version"]
    assert manifest["collection_info"]["dependencies"] == galaxy["dependencies"]
    # What a user runs: roles, playbooks and plugins, and nothing of the checkout around it.
    for part in [
        "roles/app/tasks/main.yml",
        "playbooks/site.yml",
        "plugins/action/fast_template.py",
        "plugins/plugin_utils/app_release.py",
    ]:
        assert (root / part).is_file(), part
    assert not (root / "tests" / "output").exists()
    listed = run(tool("ansible-galaxy"), "collection", "list", NAME, "--format", "json",
                 collections=installed)  # fmt: skip
    assert str(installed) in listed


def test_every_module_plugin_and_role_has_its_documentation(installed: Path) -> None:
    expected = {
        "module": {"fast_template", "app_release", "nginx_drain"},
        "filter": {
            "peer_addresses",
            "local_or_address",
            "upstream_servers",
            "connection_url",
            "output_tail",
            "status_line",
        },
        "role": {"base", "app", "nginx", "postgresql", "redis", "provision", "rollout"},
    }
    for kind, wanted in expected.items():
        listing = run(tool("ansible-doc"), "-t", kind, "-l", NAME, "--json", collections=installed)
        names = sorted(json.loads(listing))
        assert {f"{NAME}.{name}" for name in wanted} <= set(names), (kind, names)
        for name in names:
            doc = run(tool("ansible-doc"), "-t", kind, name, "--json", collections=installed)
            assert json.loads(doc)[name], name


def test_the_playbooks_resolve_by_their_names(installed: Path, tmp_path: Path) -> None:
    names = ["site", "deploy", "rollback", "restart", "status", "upgrade", "bootstrap", "backup"]
    names += ["restore", "restore_dump", "check", "provision_hetzner", "provision_digitalocean"]
    names += ["scaffold", "run", "logs", "maintenance"]
    for name in names:
        syntax = ["--syntax-check", "-i", "localhost,", f"{NAME}.{name}"]
        run(tool("ansible-playbook"), *syntax, collections=installed, cwd=tmp_path)


def test_sanity(installed: Path) -> None:
    """ansible-test sanity on the installed copy: the tests that need no network beyond PyPI."""
    root = installed / "ansible_collections" / "fastapi_vps" / "stack"
    pip_bootstrap_for_ansible_test()
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    out = run(tool("ansible-test"), "sanity", "--python", python, collections=installed, cwd=root)
    assert not re.search(r"^ERROR", out, re.M), out[-3000:]


def test_changelog_fragments_and_changelog() -> None:
    for cmd in [["lint"], ["lint-changelog-yaml", "changelogs/changelog.yaml"]]:
        result = subprocess.run([tool("antsibull-changelog"), *cmd], cwd=COLLECTION,
                                capture_output=True, text=True, check=False)  # fmt: skip
        assert result.returncode == 0, result.stdout + result.stderr


KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDYxNTM2ODc2NzQ0YjRiMmI3ZmM5ZjY0ZTRhYjdiZjQ1 test"
# The checks on this machine instead of the servers the project names: the local connection,
# an admin key, and the user running the tests allowed to log in (base refuses a lockout).
LOCAL = [
    "-e", "ansible_connection=local", "-e", f"ansible_python_interpreter={sys.executable}",
    "-e", json.dumps({"base_admin_ssh_keys": [KEY],
                      "base_ssh_allow_users": ["deploy", getpass.getuser(), "root"]}),
]  # fmt: skip


def scaffold(installed: Path, dest: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("ansible-playbook"), f"{NAME}.scaffold", "-e", f"scaffold_dest={dest}", *flags],
        cwd=dest.parent,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed)},
        capture_output=True,
        text=True,
        check=False,
    )


def test_scaffold_writes_a_site_project_the_collection_checks(
    installed: Path, tmp_path: Path
) -> None:
    app = PROJECT / "tests" / "apps" / "plain"
    site = tmp_path / "mysite"
    made = scaffold(
        installed, site, "-e", "scaffold_domain=example.org", "-e", f"scaffold_app_source={app}"
    )
    assert made.returncode == 0, made.stdout[-3000:]
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    pins = yaml.safe_load((site / "requirements.yml").read_text())["collections"]
    assert pins == [{"name": NAME, "version": f"=={galaxy['version']}"}]
    graph = run(tool("ansible-inventory"), "--graph", collections=installed, cwd=site)
    assert all(f"@{group}:\n  |  |--site1" in graph for group in ["web", "app", "db", "redis"]), (
        graph
    )
    # The vault example's placeholders are refused by name before anything runs...
    vault = site / "inventories" / "prod" / "group_vars" / "all"
    (vault / "vault.yml").write_text((vault / "vault.yml.example").read_text())
    check = [tool("ansible-playbook"), f"{NAME}.check", *LOCAL]
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(installed)}
    refused = subprocess.run(check, cwd=site, env=env, capture_output=True, text=True, check=False)
    assert refused.returncode != 0
    assert "postgresql_app_password is empty or still CHANGE-ME" in refused.stdout
    # ...and once they are filled in, every role's check passes on the project as written.
    (vault / "vault.yml").write_text(
        (vault / "vault.yml").read_text().replace("CHANGE-ME", "0a1b2c3d4e5f6a7b8c9d")
    )
    passed = subprocess.run(check, cwd=site, env=env, capture_output=True, text=True, check=False)
    assert passed.returncode == 0, passed.stdout[-3000:]
    # A second scaffold into the same project changes nothing.
    again = scaffold(
        installed, site, "-e", "scaffold_domain=example.org", "-e", f"scaffold_app_source={app}"
    )
    assert again.returncode != 0 and (site / "inventories" / "prod" / "hosts.yml").exists()
    assert "already holds inventories/prod" in again.stdout


def test_scaffold_splits_the_groups_and_names_a_missing_flag(
    installed: Path, tmp_path: Path
) -> None:
    site = tmp_path / "split"
    flags = ["scaffold_domain=example.org", "scaffold_layout=split",
             "scaffold_app_git_repo=https://git.example.com/app.git"]  # fmt: skip
    made = scaffold(installed, site, *(arg for flag in flags for arg in ("-e", flag)))
    assert made.returncode == 0, made.stdout[-3000:]
    hosts = yaml.safe_load((site / "inventories" / "prod" / "hosts.yml").read_text())["all"][
        "children"
    ]
    assert {group: sorted(hosts[group]["hosts"]) for group in hosts} == {
        "web": ["web1"], "app": ["app1", "app2"], "db": ["data1"], "redis": ["data1"],
    }  # fmt: skip
    assert all(h["private_address"] for h in hosts["app"]["hosts"].values())
    app = yaml.safe_load((site / "inventories" / "prod" / "group_vars" / "app.yml").read_text())
    assert app["app_git_repo"] == "https://git.example.com/app.git" and "app_source" not in app
    missing = scaffold(installed, tmp_path / "none", "-e", "scaffold_domain=example.org")
    assert missing.returncode != 0 and "scaffold_app_source" in missing.stdout
