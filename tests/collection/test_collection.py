"""The collection as a user gets it: built into a tarball, installed with ansible-galaxy into an
empty directory outside the checkout, documented by ansible-doc, clean under ansible-test sanity.

The fleet's run (tests/fleet) deploys from the same kind of installation (collectionlib.py).
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from collectionlib import COLLECTION, NAME, install, pip_bootstrap_for_ansible_test, tool


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
    ]:
        assert (root / part).is_file(), part
    assert not (root / "tests" / "output").exists()
    listed = run(tool("ansible-galaxy"), "collection", "list", NAME, "--format", "json",
                 collections=installed)  # fmt: skip
    assert str(installed) in listed


def test_every_module_plugin_and_role_has_its_documentation(installed: Path) -> None:
    for kind in ["module", "role"]:
        listing = json.loads(run(tool("ansible-doc"), "-t", kind, "-l", NAME, "--json",
                                 collections=installed))  # fmt: skip
        names = sorted(listing)
        if kind == "module":
            assert f"{NAME}.fast_template" in names
        else:
            assert {f"{NAME}.{r}" for r in ["base", "app", "nginx", "postgresql", "redis"]} <= set(
                names
            )
        for name in names:
            doc = json.loads(
                run(tool("ansible-doc"), "-t", kind, name, "--json", collections=installed)
            )
            assert doc[name], name


def test_the_playbooks_resolve_by_their_names(installed: Path, tmp_path: Path) -> None:
    names = ["site", "deploy", "rollback", "restart", "status", "upgrade", "bootstrap", "backup"]
    names += ["restore", "check", "provision_hetzner", "provision_digitalocean"]
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
