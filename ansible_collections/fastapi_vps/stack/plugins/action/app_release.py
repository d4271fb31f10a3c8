# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builds an app release on the controller, once for all the hosts given (see the module doc).

An action rather than a module: it runs where the source tree, the lock and the build cache are,
and the hosts get only the tarball for their platform afterwards.
"""

from __future__ import annotations

import typing as t
from pathlib import Path

from ansible.plugins.action import ActionBase

from ansible_collections.fastapi_vps.stack.plugins.plugin_utils.app_release import (
    BuildError,
    Request,
    build_release,
)

ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "name": {"type": "str", "required": True},
    "cache": {"type": "path", "required": True},
    "targets": {"type": "dict", "required": True},
    "server_requirements": {"type": "path", "required": True},
    "source": {"type": "path"},
    "git_repo": {"type": "str"},
    "git_version": {"type": "str", "default": "HEAD"},
    "release_id": {"type": "str", "default": ""},
    "project": {"type": "str", "default": "."},
    "requirements": {"type": "str", "default": ""},
    "exclude": {"type": "list", "elements": "str", "default": []},
}


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False
    # The build writes only the controller's cache, so check mode builds too: it then tells
    # which release a deploy would install, and the hosts are left alone.
    _supports_check_mode = True

    def run(
        self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None
    ) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        _spec, args = self.validate_argument_spec(
            argument_spec=ARGUMENT_SPEC,
            mutually_exclusive=[["source", "git_repo"]],
            required_one_of=[["source", "git_repo"]],
        )
        targets: dict[str, list[str]] = {}
        for host, spec in args["targets"].items():
            targets.setdefault(str(spec), []).append(str(host))
        request = Request(
            name=args["name"],
            cache=Path(args["cache"]),
            targets=targets,
            server_pins=Path(args["server_requirements"]),
            source=args["source"] or "",
            git_repo=args["git_repo"] or "",
            git_version=args["git_version"],
            release_id=args["release_id"],
            project=args["project"],
            requirements=args["requirements"],
            exclude=tuple(args["exclude"]),
        )
        try:
            built = build_release(request)
        except BuildError as error:
            return {**result, "failed": True, "msg": str(error)}
        spec_of = {host: str(spec) for host, spec in args["targets"].items()}
        for key in ("artifacts", "installers"):
            built[f"host_{key}"] = {host: built[key][spec] for host, spec in spec_of.items()}
        return {**result, **built}
