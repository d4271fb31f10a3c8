# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A host's status, as the roles' `status` entry points report it (a dict of plain data), written
as one line of `key=value` words for playbooks/status.yml. Documentation: status_line.yml beside
this file (ansible-doc -t filter fastapi_vps.stack.status_line)."""

from __future__ import annotations

import typing as t
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def _word(value: object) -> str:
    """One value as text: None absent, bools yes/no, lists and dicts joined by commas."""
    if value is None:
        return "absent"
    # Before int: a bool is an int to Python.
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ",".join(f"{key}:{_word(item)}" for key, item in value.items()) or "none"
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return ",".join(_word(item) for item in value) or "none"
    return str(value)


def status_line(status: Mapping[str, t.Any]) -> str:
    """`key=value` words, one for each key of `status`, in its order."""
    if not isinstance(status, Mapping):
        raise AnsibleFilterError(f"status_line expects a dict, got {type(status).__name__}")
    return " ".join(f"{key}={_word(value)}" for key, value in status.items())


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., str]]:
        return {"status_line": status_line}
