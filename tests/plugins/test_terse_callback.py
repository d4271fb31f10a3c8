"""fastapi_vps.stack.terse, the output people read: a real playbook over the local connection,
its screen output against its log file."""

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collection"))
from collectionlib import tool

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- name: Set things up
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Look around quietly
      ansible.builtin.command: "true"
      changed_when: false
    - name: Change one thing
      ansible.builtin.command: "true"
    - name: Skip this one
      ansible.builtin.command: "true"
      when: false
    - name: Say the status
      ansible.builtin.debug:
        msg: "current=r42 units=2"

- name: Run nowhere
  hosts: "{{ [] }}"
  gather_facts: false
  tasks:
    - name: Never run
      ansible.builtin.command: "true"

- name: Then fail
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A command that fails
      ansible.builtin.command: "sh -c 'echo what it said; exit 3'"
    - name: Never reached
      ansible.builtin.command: "true"
"""


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str, str, Path]:
    work = tmp_path_factory.mktemp("terse")
    (work / "play.yml").write_text(PLAY)
    log = work / "ansible.log"
    result = subprocess.run(
        [tool("ansible-playbook"), "-i", "localhost,", "-c", "local", "play.yml",
         "-e", f"ansible_python_interpreter={sys.executable}"],
        cwd=work,
        env={
            # No other callback (the suite's profile_tasks would print every task's name).
            **{name: value for name, value in os.environ.items()
               if name != "ANSIBLE_CALLBACKS_ENABLED"},
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_STDOUT_CALLBACK": "fastapi_vps.stack.terse",
            "ANSIBLE_LOG_PATH": str(log),
        },
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    return result.returncode, result.stdout, log.read_text(), log


def test_a_line_per_play_with_what_changed(run: tuple[int, str, str, Path]) -> None:
    rc, screen, _, _ = run
    assert rc == 2, screen
    lines = screen.splitlines()
    assert any(line.startswith("PLAY Set things up · ") and line.endswith("· changed localhost (1)")
               for line in lines), screen  # fmt: skip
    assert any(line.startswith("PLAY Then fail · ") and line.endswith("· FAILED on localhost")
               for line in lines), screen  # fmt: skip
    # A play that matches no host gets no line.
    assert "Run nowhere" not in screen, screen
    # Tasks that went well are not on the screen, one by one (the slowest are named at the end).
    for quiet in ("Look around quietly", "Change one thing", "Skip this one"):
        assert f"TASK [{quiet}]" not in screen, screen
    for result in ("ok: [localhost]\n", "changed: [localhost]", "skipping: [localhost]"):
        assert result not in screen, screen


def test_debug_output_and_failures_in_full(run: tuple[int, str, str, Path]) -> None:
    _, screen, _, _ = run
    assert "TASK [Say the status]" in screen and "current=r42 units=2" in screen, screen
    assert "TASK [A command that fails]" in screen, screen
    assert "fatal: [localhost]: FAILED!" in screen and "what it said" in screen, screen


def test_the_recap_the_result_and_the_log(run: tuple[int, str, str, Path]) -> None:
    _, screen, _, log = run
    assert "PLAY RECAP" in screen and "failed=1" in screen, screen
    assert "FAILED in " in screen and "changed localhost (1)" in screen, screen
    assert "slowest tasks: " in screen and f"full log: {log}" in screen, screen


def test_the_log_holds_the_default_output_for_its_owner_only(
    run: tuple[int, str, str, Path],
) -> None:
    _, _, text, log = run
    for line in (
        "TASK [Look around quietly]",
        "ok: [localhost]",
        "changed: [localhost]",
        "skipping: [localhost]",
        "skipping: no hosts matched",
        "fatal: [localhost]: FAILED!",
        "PLAY RECAP",
    ):
        assert line in text, line
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
