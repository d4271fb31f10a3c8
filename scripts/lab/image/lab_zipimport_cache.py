"""Lab hosts only: code imported from a zip archive is compiled once, then read from a cache.

Every Ansible task runs its module from a zip archive, and Python keeps no bytecode for code
imported that way: each task compiled ansible.module_utils again, about a third of its CPU
time on a lab host. Loaded at start by lab_zipimport_cache.pth, this keeps the compiled code under
/var/cache/lab-zipimport, keyed by the Python version, the file's path inside the archive and
a hash of its source. Only root may write the cache; anyone else compiles as before. The code
is the same as a fresh compile, its file name included, so tracebacks and Ansible's own
attribution of warnings are unchanged.
"""

from __future__ import annotations

import zipimport

TYPE_CHECKING = False  # not typing's: every Python on the host loads this at start
if TYPE_CHECKING:
    from types import CodeType

_CACHE = "/var/cache/lab-zipimport"
_compile_source = zipimport._compile_source


def _with_filename(code: CodeType, filename: str) -> CodeType:
    consts = tuple(
        _with_filename(const, filename) if isinstance(const, type(code)) else const
        for const in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def _cached_compile_source(pathname: str, source: bytes) -> CodeType:
    import hashlib
    import marshal
    import os
    import sys

    inner = pathname.rsplit(".zip" + os.sep, 1)[-1]
    key = hashlib.sha256(
        b"\0".join((sys.implementation.cache_tag.encode(), inner.encode(), source))
    ).hexdigest()
    path = os.path.join(_CACHE, key)
    try:
        with open(path, "rb") as cached:
            # Only root writes the cache (below), so it holds only what root compiled.
            return _with_filename(marshal.load(cached), pathname)  # noqa: S302
    except (OSError, EOFError, ValueError, TypeError):
        pass
    code = _compile_source(pathname, source)
    if os.geteuid() == 0:
        partial = f"{path}.{os.getpid()}"
        try:
            with open(partial, "wb") as out:
                marshal.dump(code, out)
            os.replace(partial, path)
        except OSError:
            pass
    return code


zipimport._compile_source = _cached_compile_source
