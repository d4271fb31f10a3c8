"""fastapi_vps.stack.fast_template against the builtin template action, on this machine.

Each case runs a real playbook over the local connection into a temporary directory, with -vvv
so the module runs can be counted: a file already right costs one `stat` and no `file` run;
anything the stat cannot vouch for goes through the builtin path.
"""

import getpass
import grp
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import ansible_mitogen
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collection"))
from collectionlib import tool

ROOT = Path(__file__).resolve().parents[2]
PLAY = """
- name: Templates
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Write the files
      {module}:
        src: conf.j2
        dest: "{{{{ out }}}}/f{{{{ item }}}}.conf"
        owner: "{{{{ owner }}}}"
        group: "{{{{ group }}}}"
        mode: "{{{{ mode }}}}"
      loop: [0, 1, 2]
"""
TEMPLATE = """# {{ ansible_managed }}
value = {{ value }}
{% for i in range(2) %}
line {{ i }}
{% endfor %}
"""


# The same files, their stats read in one find first and handed to each task as `known`.
PLAY_KNOWN = PLAY.replace(
    "  tasks:\n",
    """  tasks:
    - name: Read the files' stats in one call
      ansible.builtin.find:
        paths: ["{{{{ out }}}}"]
        patterns: ["f*.conf"]
        get_checksum: true
      register: files_now

""",
).replace(
    'mode: "{{{{ mode }}}}"\n',
    'mode: "{{{{ mode }}}}"\n        known: "{{{{ files_now.files }}}}"\n',
)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "conf.j2").write_text(TEMPLATE)
    (tmp_path / "out").mkdir()
    return tmp_path


def run(
    work: Path,
    module: str = "fastapi_vps.stack.fast_template",
    *args: str,
    play: str = PLAY,
    env: dict[str, str] | None = None,
    **variables: str,
) -> tuple[str, dict[str, int]]:
    """The playbook's output, and how many times each module ran and a temporary directory was
    made on the host."""
    (work / "play.yml").write_text(play.format(module=module))
    values = {
        "out": str(work / "out"),
        "owner": getpass.getuser(),
        "group": grp.getgrgid(os.getgid()).gr_name,
        "mode": "0644",
        "value": "1",
        "ansible_python_interpreter": sys.executable,
        **variables,
    }
    extra = [item for name, value in values.items() for item in ("-e", f"{name}={value}")]
    result = subprocess.run(
        [
            tool("ansible-playbook"),
            "-vvv",
            "-i",
            "localhost,",
            "-c",
            "local",
            *extra,
            *args,
            "play.yml",
        ],
        cwd=work,
        env={
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(ROOT),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_PIPELINING": "1",  # as the project's ansible.cfg
            **(env or {}),
        },
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs: dict[str, int] = {}
    for name in re.findall(r"Using module file \S*/modules/(\w+)\.py", result.stdout):
        runs[name] = runs.get(name, 0) + 1
    # The temporary directories made on the host (three round trips each: home, mkdir, rm).
    if tmpdirs := result.stdout.count("umask 77 && mkdir -p"):
        runs["tmpdir"] = tmpdirs
    return result.stdout, runs


def changed(output: str) -> int:
    return int(re.search(r"^localhost\s*:.*changed=(\d+)", output, re.MULTILINE).group(1))


def test_files_already_right_cost_one_stat_each_and_a_wrong_mode_is_put_right(work: Path) -> None:
    output, runs = run(work)
    assert changed(output) == 1 and runs == {"stat": 3, "copy": 3, "tmpdir": 3}, runs
    builtin_output, builtin_runs = run(work, "ansible.builtin.template")
    assert changed(builtin_output) == 0, builtin_runs
    assert builtin_runs == {"stat": 3, "file": 3, "tmpdir": 3}, builtin_runs
    output, runs = run(work)
    assert changed(output) == 0 and runs == {"stat": 3}, runs
    assert "value = 1" in (work / "out" / "f0.conf").read_text()
    # A mode changed on the host: the stat shows it, the file module puts it back.
    (work / "out" / "f1.conf").chmod(0o600)
    output, runs = run(work)
    assert changed(output) == 1 and runs == {"stat": 3, "file": 1}, runs
    assert stat.S_IMODE((work / "out" / "f1.conf").stat().st_mode) == 0o644


def test_check_mode_shows_the_diff_and_writes_nothing(work: Path) -> None:
    run(work)
    output, _ = run(work, "fastapi_vps.stack.fast_template", "--check", "--diff", value="2")
    assert changed(output) == 1
    assert "-value = 1" in output and "+value = 2" in output
    assert "value = 1" in (work / "out" / "f0.conf").read_text()


def test_what_a_stat_cannot_judge_goes_through_the_file_module(work: Path) -> None:
    run(work, mode="u=rw,g=r,o=r")
    output, runs = run(work, mode="u=rw,g=r,o=r")
    assert changed(output) == 0 and runs == {"stat": 3, "file": 3}, runs


def test_files_known_from_one_find_cost_no_call_of_their_own_and_an_edit_is_put_right(
    work: Path,
) -> None:
    output, runs = run(work, play=PLAY_KNOWN)  # the first run: not there yet, stat'ed as usual
    assert changed(output) == 1 and runs == {"find": 1, "stat": 3, "copy": 3, "tmpdir": 3}, runs
    output, runs = run(work, play=PLAY_KNOWN)
    assert changed(output) == 0 and runs == {"find": 1}, runs
    # An edit by hand: the find's checksum shows it, the file is written again.
    (work / "out" / "f1.conf").write_text("edited\n")
    output, runs = run(work, play=PLAY_KNOWN)
    assert changed(output) == 1 and runs == {"find": 1, "copy": 1, "tmpdir": 1}, runs
    assert "value = 1" in (work / "out" / "f1.conf").read_text()


def test_without_pipelining_each_task_makes_its_temporary_directory_first_as_the_builtin(
    work: Path,
) -> None:
    run(work)
    output, runs = run(work, ansible_pipelining="false")
    assert changed(output) == 0 and runs == {"stat": 3, "tmpdir": 3}, runs


def test_under_mitogens_strategy_it_writes_and_then_leaves_alone_as_the_builtin(work: Path) -> None:
    strategies = Path(ansible_mitogen.__file__).parent / "plugins" / "strategy"
    mitogen = {"ANSIBLE_STRATEGY_PLUGINS": str(strategies), "ANSIBLE_STRATEGY": "mitogen_linear"}
    output, _ = run(work, env=mitogen)
    assert changed(output) == 1 and "value = 1" in (work / "out" / "f0.conf").read_text()
    output, _ = run(work, env=mitogen, value="2")
    assert changed(output) == 1 and "value = 2" in (work / "out" / "f0.conf").read_text()
    output, _ = run(work, env=mitogen, value="2")
    assert changed(output) == 0
