#!/usr/bin/python
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Marks nginx upstream servers down or up at a web host in one call."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: nginx_drain
short_description: Mark nginx upstream servers down or up, test, reload and wait, in one call
description:
  - Rewrites the file of each named upstream server (C(server ADDRESS down;) or C(server ADDRESS;))
    wherever it appears under O(path), one file per server as the nginx role's C(sites.yml) writes
    them; tests the configuration with C(nginx -t) and reloads nginx gracefully. A configuration
    that fails the test or the reload is put back as it was, and the module fails with nginx's
    output, so that no file nginx rejects is left on disk.
  - With O(state=down), then waits until no connection to the servers is established (C(ss)), at
    most O(timeout) seconds, and returns how many were still open.
  - One remote call for what would otherwise be a find, a copy per file, a test, a reload and a
    wait, twice for each batch of a rolling deploy at every web host.
author:
  - fastapi-vps maintainers (@fastapi-vps)
options:
  path:
    description: The directory the servers' files are looked for in, recursively.
    type: path
    required: true
  files:
    description: Each server's file name, to the server address it holds (C(host:port)).
    type: dict
    required: true
  state:
    description: C(down) takes the servers out of rotation, C(up) puts them back.
    type: str
    required: true
    choices: [down, up]
  timeout:
    description: With O(state=down), the seconds to wait for the connections to the servers to end.
    type: int
    default: 30
  nginx:
    description: The nginx binary, for its configuration test.
    type: path
    default: /usr/sbin/nginx
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
"""

EXAMPLES = r"""
- name: Take an app host out of rotation
  fastapi_vps.stack.nginx_drain:
    path: /etc/nginx/web-upstreams
    files: {"10.0.0.21_8000.conf": "10.0.0.21:8000"}
    state: down
    timeout: 30
"""

RETURN = r"""
written:
  description: The files rewritten (or, in check mode, that would be).
  returned: always
  type: list
  elements: str
connections_left:
  description: With O(state=down), the connections to the servers still established at the end.
  returned: always
  type: int
"""

import os
import tempfile
import time
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule


def line(server: str, state: str) -> str:
    return f"server {server}{' down' if state == 'down' else ''};\n"


def established(module: AnsibleModule, servers: list[str]) -> int:
    """The connections to the servers; 0 (with a warning) when ss cannot tell."""
    where = " or ".join(f"dst {server}" for server in servers)
    rc, out, err = module.run_command(["ss", "-Htn", "state", "established", f"( {where} )"])
    if rc != 0:
        module.warn(f"not waiting for connections to end: ss failed: {err.strip() or out.strip()}")
        return 0
    return len(out.splitlines())


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "files": {"type": "dict", "required": True},
            "state": {"type": "str", "required": True, "choices": ["down", "up"]},
            "timeout": {"type": "int", "default": 30},
            "nginx": {"type": "path", "default": "/usr/sbin/nginx"},
        },
        supports_check_mode=True,
    )
    files: dict[str, str] = {str(k): str(v) for k, v in module.params["files"].items()}
    state = module.params["state"]
    before: dict[str, str] = {}
    after: dict[str, str] = {}
    for root, _dirs, names in os.walk(module.params["path"]):
        for name in sorted(set(names) & set(files)):
            path, wanted = os.path.join(root, name), line(files[name], state)
            if (content := Path(path).read_text()) != wanted:
                before[path], after[path] = content, wanted
    diff = [
        {"before_header": path, "after_header": path, "before": content, "after": after[path]}
        for path, content in sorted(before.items())
    ]
    result = {"changed": bool(before), "written": sorted(before), "connections_left": 0}
    if module._diff:
        result["diff"] = diff
    if module.check_mode:
        module.exit_json(**result)

    def put_back(why: str, rc: int, out: str, err: str) -> None:
        for path, content in before.items():
            write(module, path, content)
        module.fail_json(msg=f"{why}; the servers' files are back as they were", rc=rc,
                         stdout=out, stderr=err, **result)  # fmt: skip

    for path, content in after.items():
        write(module, path, content)
    if before:
        rc, out, err = module.run_command([module.params["nginx"], "-t", "-q"])
        if rc != 0:
            put_back(f"nginx -t rejects the configuration: {err.strip()}", rc, out, err)
        # Graceful: old workers finish their requests; new ones skip the servers marked down.
        rc, out, err = module.run_command(["systemctl", "reload", "nginx"])
        if rc != 0:
            put_back(f"reloading nginx failed: {err.strip()}", rc, out, err)
    if state == "down" and files:
        servers = sorted(set(files.values()))
        deadline = time.monotonic() + module.params["timeout"]
        while (left := established(module, servers)) and time.monotonic() < deadline:
            time.sleep(1)
        result["connections_left"] = left
    module.exit_json(**result)


def write(module: AnsibleModule, path: str, content: str) -> None:
    """Atomically, keeping the file's owner, group and mode (nginx includes only *.conf)."""
    fd, partial = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".", suffix=".drain")
    with os.fdopen(fd, "w") as out:
        out.write(content)
    module.atomic_move(partial, path)


if __name__ == "__main__":
    main()
