# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Keeps the modules Ansible packs for the hosts from one run to the next."""

from __future__ import annotations

DOCUMENTATION = r"""
name: module_cache
type: aggregate
short_description: Keep the modules packed for the hosts from one run to the next
description:
  - Before a task runs a module on a host, Ansible packs the module with the module_utils it
    imports into a zip (AnsiballZ). Finding those imports parses every module_utils file the
    module needs, about 0.1 s of the controller's CPU per module. Ansible keeps the packed
    modules only for the run, in its local temporary directory, so every run packs each of its
    modules again; for an unchanged C(site.yml) on one host that is about a quarter of the
    controller's work.
  - This callback keeps them in C(~/.cache/fastapi_vps/ansiballz/<key>). At the start of a run it
    links the kept ones into the run's own cache, and at its end it keeps the ones the run
    packed. Ansible's own code does the packing and the reading, unchanged.
  - The key is a digest of the controller's Python, the version of ansible-core, and the name,
    size and modification time of the files modules come from, for every collection Ansible
    searches (the configured paths, the playbook's own C(collections) directory and Python's
    path, where the C(ansible) package bundles its collections) and C(DEFAULT_MODULE_PATH) and
    C(DEFAULT_MODULE_UTILS_PATH). An installed collection counts by its C(MANIFEST.json), which
    every install or upgrade rewrites; a collection in a source tree by every file under its
    modules and module_utils. Any change to them gives a new, empty directory; directories
    unused for 14 days are removed.
  - Modules from a C(library) directory beside a playbook or in a role are packed under their
    bare name, which says nothing of their content, so they are never kept.
  - Each run packs into its own directory, so runs at the same time do not interfere.
requirements:
  - enable it with C(callbacks_enabled) in C(ansible.cfg) (C(ANSIBLE_CALLBACKS_ENABLED))
"""

EXAMPLES = r"""
# ansible.cfg
# [defaults]
# callbacks_enabled = fastapi_vps.stack.module_cache
"""

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

from ansible import constants as C
from ansible.module_utils.common.text.converters import to_text
from ansible.plugins.callback import CallbackBase
from ansible.release import __version__ as ansible_core_version
from ansible.utils.collection_loader import AnsibleCollectionConfig

KEEP_ROOT = Path("~/.cache/fastapi_vps/ansiballz").expanduser()
UNUSED_DAYS = 14
# Ansible's name for a module outside ansible-core and the collections (a `library` directory).
UNKEYED_PREFIX = "ansible.legacy."


def _files_under(root: Path) -> list[str]:
    """root, or each file below it, as 'path size mtime', sorted; nothing when it does not exist."""
    if root.is_file():
        stat = root.stat()
        return [f"{root} {stat.st_size} {stat.st_mtime_ns}"]
    lines = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in filenames:
            path = os.path.join(dirpath, name)
            try:
                stat = os.stat(path)
            except OSError:
                continue
            lines.append(f"{path} {stat.st_size} {stat.st_mtime_ns}")
    return sorted(lines)


def _key() -> str:
    parts = [sys.version, ansible_core_version, os.path.dirname(C.__file__)]
    for path in C.DEFAULT_MODULE_PATH + C.DEFAULT_MODULE_UTILS_PATH:
        parts += _files_under(Path(path))
    # Every collection Ansible would load a module from (the playbook's own collections
    # directory and Python's too); an installed one by its manifest, which every install or
    # upgrade rewrites, one in a source tree by its files.
    for path in AnsibleCollectionConfig.collection_paths:
        for collection in sorted(Path(path).glob("ansible_collections/*/*")):
            manifest = collection / "MANIFEST.json"
            if manifest.is_file():
                parts += _files_under(manifest)
            else:
                parts += _files_under(collection / "plugins" / "modules")
                parts += _files_under(collection / "plugins" / "module_utils")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except FileExistsError:
        pass
    except OSError:  # another file system
        shutil.copy2(source, target)


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "fastapi_vps.stack.module_cache"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self) -> None:
        super().__init__()
        # The directory Ansible packs this run's modules into (executor/module_common.py).
        self._run_cache = Path(C.DEFAULT_LOCAL_TMP) / "ansiballz_cache"
        self._kept = KEEP_ROOT / _key()
        try:
            # Private, as Ansible's own temporary directory: Ansible unpickles what it reads.
            KEEP_ROOT.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._kept.mkdir(mode=0o700, exist_ok=True)
            os.utime(self._kept)
            self._prune()
            self._run_cache.mkdir(exist_ok=True)
            for entry in self._kept.iterdir():
                if not entry.name.startswith("."):  # not one being written
                    _link_or_copy(entry, self._run_cache / entry.name)
        except OSError as error:  # a cache: without it the run only packs its modules itself
            self._display.warning(f"module_cache: {to_text(error)}")

    def _prune(self) -> None:
        unused_since = time.time() - UNUSED_DAYS * 86400
        for other in KEEP_ROOT.iterdir():
            try:
                unused = other != self._kept and other.stat().st_mtime < unused_since
            except OSError:  # removed meanwhile by another run
                continue
            if unused:
                shutil.rmtree(other, ignore_errors=True)

    def v2_playbook_on_stats(self, stats: object) -> None:
        try:
            for entry in self._run_cache.iterdir():
                if entry.name.endswith((".lock", "-part")) or entry.name.startswith(UNKEYED_PREFIX):
                    continue
                if not (self._kept / entry.name).exists():
                    # Linked under a temporary name first: a reader never sees half a file.
                    partial = self._kept / f".{entry.name}.{os.getpid()}"
                    partial.unlink(missing_ok=True)
                    _link_or_copy(entry, partial)
                    os.replace(partial, self._kept / entry.name)
        except OSError as error:
            self._display.warning(f"module_cache: {to_text(error)}")
