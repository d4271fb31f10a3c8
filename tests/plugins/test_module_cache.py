"""fastapi_vps.stack.module_cache, on this machine: real playbooks over the local connection, with
Ansible's debug output saying when it packs a module and when it reads one it packed before."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collection"))
from collectionlib import tool

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- name: Modules
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A builtin module
      ansible.builtin.stat:
        path: /
    - name: A collection's module
      lab.probe.answer:
    - name: A module of the playbook's own library directory
      local_answer:
"""
COLLECTION_MODULE = "ansible_collections.lab.probe.plugins.modules.answer"  # as Ansible names it
ANSWER = """#!/usr/bin/python
from ansible.module_utils.basic import AnsibleModule

AnsibleModule(argument_spec={{}}).exit_json(answer={answer!r})
"""


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "play.yml").write_text(PLAY)
    (tmp_path / "library").mkdir()
    (tmp_path / "library" / "local_answer.py").write_text(ANSWER.format(answer="local"))
    modules = tmp_path / "collections" / "ansible_collections" / "lab" / "probe" / "plugins"
    (modules / "modules").mkdir(parents=True)
    (modules / "modules" / "answer.py").write_text(ANSWER.format(answer="first"))
    return tmp_path


def run(work: Path) -> tuple[str, list[str]]:
    """The playbook's output, and the modules Ansible packed in this run."""
    result = subprocess.run(
        [tool("ansible-playbook"), "-v", "-i", "localhost,", "-c", "local", "play.yml"],
        cwd=work,
        env={
            **os.environ,
            "HOME": str(work),  # the kept modules under work/.cache
            "ANSIBLE_COLLECTIONS_PATH": f"{ROOT}:{work / 'collections'}",
            "ANSIBLE_CALLBACKS_ENABLED": "fastapi_vps.stack.module_cache",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_DEBUG": "1",
            "ANSIBLE_NOCOLOR": "1",
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    packed = [
        line.split("ANSIBALLZ: Lock acquired: ")[1].rsplit("/", 1)[1]
        for line in output.splitlines()
        if "ANSIBALLZ: Lock acquired: " in line
    ]
    return output, sorted(name.split("-")[0] for name in packed)


def kept(work: Path) -> list[str]:
    root = work / ".cache" / "fastapi_vps" / "ansiballz"
    return sorted(entry.name.split("-")[0] for entry in root.glob("*/*"))


def test_a_second_run_packs_nothing_a_changed_module_is_packed_again_and_a_library_one_always(
    work: Path,
) -> None:
    every = ["ansible.legacy.local_answer", "ansible.modules.stat", COLLECTION_MODULE]
    output, packed = run(work)
    assert packed == every, packed
    assert kept(work) == ["ansible.modules.stat", COLLECTION_MODULE]
    assert '"answer": "first"' in output

    # The library module (keyed by its bare name only) is packed again; the others are read.
    output, packed = run(work)
    assert packed == ["ansible.legacy.local_answer"], packed

    # A module changed on disk: a new key, so everything is packed again and the change runs.
    answer = work / "collections/ansible_collections/lab/probe/plugins/modules/answer.py"
    answer.write_text(ANSWER.format(answer="second"))
    output, packed = run(work)
    assert packed == every, packed
    assert '"answer": "second"' in output
