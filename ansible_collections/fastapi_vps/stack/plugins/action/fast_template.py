# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible.builtin.template, minus one remote call per file that is already right.

The builtin template action asks the host for the file's checksum (one module run) and, when
the content matches, runs the `file` module anyway (a second module run) in case the owner,
group or mode differ. On an unchanged host that second run is half of every template task's
cost, and templates are about 40% of an unchanged site.yml. Here the stat the builtin action
already made answers that question: when it shows the requested owner, group and mode, the
`file` call is skipped and the result says `changed: false`, as `file` would have.

With `known`, the stat comes from a list of files' stats the role took in one call before
(ansible.builtin.find with get_checksum), so a file already right costs no remote call of its own:
a role with ten files pays one call instead of ten. A file not in the list is stat'ed as usual.

The builtin action also makes a temporary directory on the host before anything else, and
removes it after: three more round trips (the home directory, mkdir, rm). With pipelining, only
a file that must be written needs it, and here it is made only then.

Everything else is the builtin action, unchanged: rendering, `validate`, `backup`, check
mode, diff. Any argument this shortcut cannot judge from a stat (symbolic modes, SELinux
contexts, file attributes, `follow`) keeps the builtin path.
"""

from __future__ import annotations

import typing as t

from ansible.plugins.action.copy import ActionModule as CopyAction
from ansible.plugins.action.template import ActionModule as TemplateAction
from ansible.utils.hashing import checksum as local_checksum

# file-module arguments a stat cannot vouch for.
_NEEDS_FILE_MODULE = ("attributes", "attr", "seuser", "serole", "setype", "selevel", "follow")


def _attributes_match(args: dict[str, object], stat: dict[str, t.Any]) -> bool:
    """Whether the file module, given these args, would find nothing to change."""
    if not stat.get("exists") or not stat.get("isreg") or stat.get("islnk"):
        return False
    if any(args.get(name) for name in _NEEDS_FILE_MODULE):
        return False
    mode = args.get("mode")
    if mode is not None:
        try:
            wanted = int(mode, 8) if isinstance(mode, str) else int(mode)
        except ValueError:  # symbolic (u=rw,g=r): leave it to the file module
            return False
        if wanted != int(stat["mode"], 8):
            return False
    for arg, name, number in (("owner", "pw_name", "uid"), ("group", "gr_name", "gid")):
        value = args.get(arg)
        if value is not None and str(value) not in (stat.get(name), str(stat.get(number))):
            return False
    return True


def _tmp_first(action: CopyAction | TemplateAction) -> bool:
    """Whether the action makes the host's temporary directory before anything else: only when
    module runs are not pipelined (each then needs it), as the builtin actions always do."""
    try:
        return not action._is_pipelining_enabled("new")
    except AssertionError:  # Mitogen's actions run modules their own way and refuse the question
        return True


class _CopyKeepingStat(CopyAction):
    """The builtin copy action, remembering its last stat to answer the attribute check."""

    _last_stat: dict[str, t.Any] | None = None
    # The regular files the role read in one call, by path (the `known` argument), if any.
    known: dict[str, dict[str, t.Any]] | None = None

    def _early_needs_tmp_path(self) -> bool:
        # Pipelined module runs need no directory on the host: _copy_file makes it, only for a
        # file that must be written.
        return _tmp_first(self)

    def _copy_file(
        self,
        source_full: str,
        source_rel: str,
        content: object,
        content_tempfile: object,
        dest: str,
        task_vars: dict[str, object],
        follow: bool,
    ) -> dict[str, object] | None:
        if self._connection._shell.tmpdir is None and not self._task.check_mode:
            # The stat the builtin code asks for next, taken first (the same one: see below).
            stat = self._execute_remote_stat(dest, all_vars=task_vars, follow=follow)
            right = stat.get("isreg") and stat.get("checksum") == local_checksum(source_full)
            if not right:
                self._make_tmp_path()
        return super()._copy_file(
            source_full, source_rel, content, content_tempfile, dest, task_vars, follow
        )

    def _execute_remote_stat(
        self,
        path: str,
        all_vars: dict[str, object],
        follow: bool,
        tmp: str | None = None,
        checksum: bool = True,
    ) -> dict[str, object]:
        if self._last_stat is not None and self._last_stat["path"] == path:
            return self._last_stat  # asked again by the builtin code after _copy_file's look
        stat = (self.known or {}).get(path)
        if stat is not None and not follow and stat.get("isreg") and "checksum" in stat:
            result = dict(stat, exists=True)
        else:
            result = super()._execute_remote_stat(
                path, all_vars, follow, tmp=tmp, checksum=checksum
            )
        self._last_stat = dict(result, path=path)
        return self._last_stat

    def _execute_module(
        self,
        module_name: str | None = None,
        module_args: dict[str, object] | None = None,
        *args: object,
        **kwargs: object,
    ) -> dict[str, object]:
        stat = self._last_stat
        if (
            module_name == "ansible.legacy.file"
            and module_args is not None
            and module_args.get("state") == "file"
            and stat is not None
            and stat["path"] == module_args.get("dest")
            and _attributes_match(module_args, stat)
        ):
            return {
                "changed": False,
                "path": stat["path"],
                "state": "file",
                "mode": stat["mode"],
                "owner": stat.get("pw_name"),
                "group": stat.get("gr_name"),
                "uid": stat.get("uid"),
                "gid": stat.get("gid"),
                "size": stat.get("size"),
            }
        return super()._execute_module(module_name, module_args, *args, **kwargs)


class _LoaderWithOwnCopy:
    """The shared loader as the template action sees it: its copy action is the one above."""

    def __init__(self, shared: object, known: dict[str, dict[str, t.Any]]) -> None:
        self._shared = shared
        self.action_loader = _ActionLoader(getattr(shared, "action_loader"), known)  # noqa: B009

    def __getattr__(self, name: str) -> object:
        return getattr(self._shared, name)


class _ActionLoader:
    def __init__(self, loader: object, known: dict[str, dict[str, t.Any]]) -> None:
        self._loader = loader
        self._known = known

    def get(self, name: str, *args: object, **kwargs: object) -> object:
        if name == "ansible.legacy.copy":
            copy = _CopyKeepingStat(*args, **kwargs)
            copy.known = self._known
            return copy
        return getattr(self._loader, "get")(name, *args, **kwargs)  # noqa: B009

    def __getattr__(self, name: str) -> object:
        return getattr(self._loader, name)


class ActionModule(TemplateAction):
    def _early_needs_tmp_path(self) -> bool:
        return _tmp_first(self)

    def run(
        self, tmp: str | None = None, task_vars: dict[str, object] | None = None
    ) -> dict[str, object]:
        # Not an argument of the builtin action: taken out before it sees them.
        files = self._task.args.pop("known", None) or []
        usable = isinstance(files, list) and all(isinstance(f, dict) and "path" in f for f in files)
        if not usable:
            return {"failed": True, "msg": "known: a list of files as ansible.builtin.find returns"}
        known = {str(f["path"]): f for f in files}
        self._shared_loader_obj = _LoaderWithOwnCopy(self._shared_loader_obj, known)
        return super().run(tmp, task_vars)
