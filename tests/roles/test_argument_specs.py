"""Every public variable of every role has a precise type, and a wrongly typed value is refused
by the role's argument spec with a message naming the variable; its default passes. Generated
from each role's meta/argument_specs.yml, so a new variable is covered without a new test. The
specs run through Ansible's own validate_argument_spec, on the controller, in one play.

A `str` or `path` without choices has no wrong type (every value has a string form); the roles'
own checks (tasks/checks.yml) test those values, and test_base_validation.py that a refused
value changes nothing on a host."""

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROLES = Path(__file__).resolve().parents[2] / "ansible_collections/fastapi_vps/stack/roles"
# A value of another type that Ansible cannot convert.
WRONG: dict[str, Any] = {
    "int": "not-a-number",
    "float": "not-a-number",
    "bool": "maybe",
    "list": {"not": "a list"},
    "dict": "not a dict",
}
KEEP = ("type", "elements", "choices", "options", "no_log")
PLAY = """
- name: Argument specs against generated values
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Validate one variable
      ansible.builtin.validate_argument_spec:
        argument_spec: "{{ item.spec }}"
        provided_arguments: "{{ item.args }}"
      loop: "{{ cases }}"
      loop_control:
        label: "{{ item.id }}"
      register: results
      ignore_errors: true

    - name: Write what each case got
      ansible.builtin.copy:
        content: "{{ results.results | to_json }}"
        dest: "{{ out }}"
        mode: "0600"
"""


def bare(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec's checks alone: nothing required (each case sets one variable), no texts."""
    out = {key: copy.deepcopy(value) for key, value in spec.items() if key in KEEP}
    if "options" in out:
        out["options"] = {name: bare(sub) for name, sub in out["options"].items()}
    return out


def options() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        specs = yaml.safe_load(path.read_text())["argument_specs"]
        seen: set[int] = set()
        for entry in specs.values():
            if id(entry.get("options")) in seen:  # an alias of another entry point's options
                continue
            seen.add(id(entry.get("options")))
            for name, spec in entry.get("options", {}).items():
                found.append((path.parents[1].name, name, spec))
    return found


OPTIONS = options()


def cases() -> list[dict[str, Any]]:
    out = []
    for role, name, spec in OPTIONS:
        kind = spec.get("type", "str")
        base = {"role": role, "name": name, "spec": {name: bare(spec)}}
        if kind in WRONG:
            out.append(base | {"id": f"{name}: wrong type", "args": {name: WRONG[kind]}})
        elif spec.get("choices"):
            out.append(base | {"id": f"{name}: not a choice", "args": {name: "not-a-choice"}})
        if kind == "list" and spec.get("elements") in WRONG:
            bad = [WRONG[spec["elements"]]]
            out.append(base | {"id": f"{name}: wrong element", "args": {name: bad}})
        # A sub-option of the list's dicts (or the dict) with a value of the wrong type.
        for sub, sub_spec in spec.get("options", {}).items():
            if (sub_kind := sub_spec.get("type", "str")) in WRONG:
                value = {sub: WRONG[sub_kind]}
                args = {name: [value] if kind == "list" else value}
                out.append(base | {"id": f"{name}.{sub}: wrong type", "args": args})
        default = spec.get("default")
        if "default" in spec and "{{" not in json.dumps(default):
            out.append(base | {"id": f"{name}: its default", "args": {name: default}, "good": True})
    return out


CASES = cases()
GOOD = {case["id"] for case in CASES if case.get("good")}


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("specs")
    (work / "play.yml").write_text(PLAY)
    generated = CASES
    # The controller's own Python writes the result: no interpreter discovery.
    extra = {
        "cases": generated,
        "out": str(work / "out.json"),
        "ansible_python_interpreter": sys.executable,
    }
    (work / "cases.json").write_text(json.dumps(extra))
    result = subprocess.run(
        ["ansible-playbook", "-i", "localhost,", "-c", "local", "play.yml", "-e", "@cases.json"],
        cwd=work,
        capture_output=True,
        text=True,
        check=False,
    )
    assert (work / "out.json").exists(), result.stdout[-3000:] + result.stderr[-3000:]
    got = json.loads((work / "out.json").read_text())
    # A refused value's message; "" for one that passed.
    return {
        case["id"]: str(result.get("msg", "")) if result.get("failed") else ""
        for case, result in zip(generated, got, strict=True)
    }


def test_every_variable_has_a_precise_type() -> None:
    loose = [f"{role}: {name}" for role, name, spec in OPTIONS if spec.get("type", "str") == "raw"]
    assert not loose, loose
    untyped = [f"{role}: {name}" for role, name, spec in OPTIONS if "type" not in spec]
    assert not untyped, untyped


def test_a_wrong_value_is_refused_naming_the_variable(outcomes: dict[str, str]) -> None:
    bad = {case_id: message for case_id, message in outcomes.items() if case_id not in GOOD}
    assert len(bad) > 100, len(bad)
    accepted = [case_id for case_id, message in bad.items() if not message]
    assert not accepted, accepted
    unnamed = [
        (case_id, message)
        for case_id, message in bad.items()
        if case_id.split(":")[0].split(".")[-1] not in message
    ]
    assert not unnamed, unnamed[:5]
    print(f"{len(bad)} wrong values refused, each naming its variable")


def test_every_default_passes(outcomes: dict[str, str]) -> None:
    refused = {case_id: outcomes[case_id] for case_id in GOOD if outcomes[case_id]}
    assert not refused, refused
