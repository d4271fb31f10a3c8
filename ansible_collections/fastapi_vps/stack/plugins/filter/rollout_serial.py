# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The batches of a rolling change to the app and worker hosts, for the rollout playbooks'
`serial`. Documentation: rollout_serial.yml beside this file
(ansible-doc -t filter fastapi_vps.stack.rollout_serial)."""

from __future__ import annotations

import math
import typing as t

from ansible.errors import AnsibleFilterError


def rollout_serial(
    batch: object, groups: t.Mapping[str, t.Sequence[str]], workers_apart: bool = True
) -> list[int]:
    """`serial` for a play over `app:worker` (the app hosts first, in their order): batches of
    `batch` app hosts (a count, or a percentage of the app hosts), then one batch of the hosts
    that run the app's processes only, or those hosts in the last batch (`workers_apart` false)."""
    apps = list(groups.get("app", []))
    workers_only = [host for host in groups.get("worker", []) if host not in apps]
    text = str(batch).strip()
    try:
        if text.endswith("%"):
            percent = float(text[:-1])
            valid = 0 < percent <= 100
            size = max(1, math.floor(len(apps) * percent / 100))
        else:
            size = int(text)
            valid = size > 0
    except ValueError:
        valid = False
    if not valid:
        raise AnsibleFilterError(
            f"rollout_batch is {batch!r}: give the app hosts switched at a time, a positive "
            "number (2) or a percentage of the app hosts (25%)"
        )
    # Batches of `size` app hosts, the last one what is left, then the worker hosts together:
    # they serve no request, and an app host in their batch stays drained through their switch.
    # Apart for a switch that takes long (an upgrade's packages and reboot); in the last batch
    # for one of seconds (a deploy's processes settling), which then runs beside the app hosts'
    # instead of after them. Ansible repeats the list's last value: a --limit that leaves app
    # hosts out shifts the batches (the worker hosts may then switch one at a time), never more
    # than `size` app hosts at once, as the app hosts come first.
    full, left = divmod(len(apps), size)
    batches = [size] * full + ([left] if left else [])
    if workers_apart or not batches:
        batches.append(len(workers_only))
    else:
        batches[-1] += len(workers_only)
    return [count for count in batches if count > 0] or [1]


class FilterModule:
    def filters(self) -> dict[str, t.Callable[..., list[int]]]:
        return {"rollout_serial": rollout_serial}
