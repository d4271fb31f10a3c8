"""Building and installing the collection as a user would, for the collection's own tests and
for the fleet's run."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
COLLECTION = PROJECT / "ansible_collections" / "fastapi_vps" / "stack"
NAME = "fastapi_vps.stack"


def tool(name: str) -> str:
    """A command of the virtualenv running the tests (ansible-galaxy, ansible-test, ...)."""
    beside = Path(sys.executable).parent / name
    return str(beside) if beside.exists() else (shutil.which(name) or name)


def install(dest: Path) -> Path:
    """Builds the tarball from the checkout and installs it into dest, an empty directory outside
    the checkout; returns dest, a path for ANSIBLE_COLLECTIONS_PATH. --offline resolves the
    dependencies against the collections already installed (the `ansible` package's), so their
    version bounds in galaxy.yml are checked without reaching Galaxy."""
    build = dest / "build"
    _run(
        tool("ansible-galaxy"),
        "collection",
        "build",
        "--force",
        "--output-path",
        str(build),
        str(COLLECTION),
        dest=dest,
    )
    (tarball,) = build.glob("*.tar.gz")
    _run(
        tool("ansible-galaxy"),
        "collection",
        "install",
        "--offline",
        "-p",
        str(dest),
        str(tarball),
        dest=dest,
    )
    return dest


def _run(*cmd: str, dest: Path) -> None:
    # Away from the checkout, whose ansible.cfg would show its own copy as installed already.
    env = {**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(dest)}
    result = subprocess.run(cmd, cwd=dest, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")


# ansible-test makes a virtualenv per sanity test and bootstraps pip into it with a script it
# downloads from ci-files.testing.ansible.com, which these machines cannot reach (PyPI they can).
# The stand-in does the same job with the interpreter's own ensurepip, then installs the pip
# version and packages ansible-test asked for from the package index.
GET_PIP = """import subprocess, sys
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"])
args = [arg for arg in sys.argv[1:] if arg not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "pip", "install", *args])
"""


def pip_bootstrap_for_ansible_test() -> None:
    import ansible_test

    source = Path(ansible_test.__file__).parent / "_internal" / "python_requirements.py"
    version = re.search(r"pip='([\d.]+)'", source.read_text()).group(1)
    cached = Path.home() / ".ansible" / "test" / "cache" / f"get_pip_{version.replace('.', '_')}.py"
    if not cached.exists():
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(GET_PIP)
