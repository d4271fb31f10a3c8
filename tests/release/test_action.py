"""The release builder as Ansible runs it: the action fastapi_vps.stack.app_release in a play on
the controller. One build serves every host of a target, a second run and a check-mode run find
it in the cache, and bad inputs fail the task with a message that names the option.

The builder itself, app by app and lock by lock, is tested in test_builder.py.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collection"))
from collectionlib import COLLECTION, PROJECT, tool

HELLO = PROJECT / "tests" / "apps" / "hello"
TARGET = "3.11.2-x86_64-2.36"
PINS = COLLECTION / "roles" / "app" / "files" / "server-requirements.txt"

PLAY = """
- name: Build releases on the controller
  hosts: localhost
  gather_facts: false
  vars:
    common: &common
      name: hello
      cache: "{{ cache }}"
      server_requirements: "{{ pins }}"
  tasks:
    - name: Build
      fastapi_vps.stack.app_release:
        <<: *common
        source: "{{ source }}"
        targets: &hosts {web1: "{{ target }}", web2: "{{ target }}"}
      register: first
    - name: Build again
      fastapi_vps.stack.app_release:
        <<: *common
        source: "{{ source }}"
        targets: *hosts
      register: again
    - name: Build in check mode
      fastapi_vps.stack.app_release:
        <<: *common
        source: "{{ source }}"
        targets: *hosts
      check_mode: true
      register: checked
    - name: A source and a repository
      fastapi_vps.stack.app_release:
        <<: *common
        source: "{{ source }}"
        targets: *hosts
        git_repo: "{{ source }}"
      register: both
      ignore_errors: true
    - name: A project dir the tree does not have
      fastapi_vps.stack.app_release:
        <<: *common
        source: "{{ source }}"
        targets: *hosts
        project: backend
      register: no_project
      ignore_errors: true
    - name: A target that is not PY-ARCH-GLIBC
      fastapi_vps.stack.app_release:
        <<: *common
        source: "{{ source }}"
        targets: {web3: "3.11.2"}  # no architecture or glibc
      register: bad_target
      ignore_errors: true
    - name: Write the results
      ansible.builtin.copy:
        content: "{{ {'first': first, 'again': again, 'checked': checked, 'both': both,
                      'no_project': no_project, 'bad_target': bad_target} | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("action")
    (work / "play.yml").write_text(PLAY)
    extra = {"cache": str(work / "cache"), "pins": str(PINS), "target": TARGET,
             "source": str(HELLO), "out": str(work / "out.json")}  # fmt: skip
    python = f"ansible_python_interpreter={sys.executable}"
    local = ["-i", "localhost,", "-c", "local", "-e", python]
    run = subprocess.run(
        [tool("ansible-playbook"), *local, str(work / "play.yml"), "-e", json.dumps(extra)],
        cwd=PROJECT,
        env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(PROJECT)},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    return json.loads((work / "out.json").read_text())


def test_one_build_serves_every_host_of_a_target(results: dict) -> None:
    first = results["first"]
    assert first["changed"] is True, first
    assert list(first["artifacts"]) == [TARGET]
    assert first["host_artifacts"] == {"web1": first["artifacts"][TARGET]} | {
        "web2": first["artifacts"][TARGET]
    }
    assert Path(first["artifacts"][TARGET]).is_file()
    assert first["release"] == first["build"] and len(first["release"]) == 12
    assert first["lock"] == "pyproject.toml" and first["resolved"] is True
    assert "fastapi" in first["packages"][TARGET] and "gunicorn" in first["packages"][TARGET]


def test_a_second_run_and_check_mode_find_the_cached_build(results: dict) -> None:
    for run in ("again", "checked"):
        assert results[run]["changed"] is False, results[run]
        assert results[run]["release"] == results["first"]["release"]
        assert results[run]["host_artifacts"] == results["first"]["host_artifacts"]


def test_bad_inputs_fail_naming_the_option(results: dict) -> None:
    assert results["both"]["failed"] and "source|git_repo" in results["both"]["msg"]
    msg = results["no_project"]["msg"]
    assert results["no_project"]["failed"] and "project 'backend'" in msg, msg
    msg = results["bad_target"]["msg"]
    assert results["bad_target"]["failed"] and "'3.11.2' of web3" in msg, msg
