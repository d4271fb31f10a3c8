"""The release builder, on the controller alone: each app builds for two targets from its own
lock (or its own pins), and a bad input stops the build with a message that names the cause.

Builds are shared per app (module-scoped), so the file runs in a couple of minutes; it needs
PyPI, uv beside this Python (the dev extra) and no Docker.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "ansible_collections/fastapi_vps/stack/plugins/plugin_utils/app_release.py"
FIXTURES = ROOT / "tests" / "apps"
TARGETS = ["3.11.2-x86_64-2.36", "3.13.5-x86_64-2.41"]
SERVER = {"gunicorn", "uvicorn-worker", "uvicorn"}
# The uv the builder runs: the dev extra's, beside this Python.
CONTROLLER_UV = metadata.version("uv")
# The reference app is the repository root: everything but the app itself stays out.
NOT_THE_APP = ["ansible_collections", "tests", "molecule", "playbooks", "inventories", "scripts"]
NOT_THE_APP += ["docs", "bench", "site.yml", ".ci", ".config", ".github", ".ansible-lint"]
NOT_THE_APP += [".yamllint", "ansible.cfg", "requirements.yml", "Makefile"]
APPS = {
    "workspace": ["--source", FIXTURES / "workspace", "--project", "backend"],
    "plain": ["--source", FIXTURES / "plain"],
    "poetry": ["--source", FIXTURES / "poetry"],
    "hello": ["--source", FIXTURES / "hello"],
    "reference": ["--source", ROOT, *(f"--exclude=/{name}" for name in NOT_THE_APP)],
}


def run_builder(cache: Path, name: str, *args, targets=TARGETS) -> subprocess.CompletedProcess:
    cmd = [sys.executable, BUILDER, "--name", name, "--cache", cache, *args]
    cmd += [f"--target={target}" for target in targets]
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900)


def built(result: subprocess.CompletedProcess) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def unpack(artifact: str, dest: Path) -> Path:
    dest.mkdir(parents=True)
    with tarfile.open(artifact) as tar:
        tar.extractall(dest, filter="data")
    return dest


def requirements(path: Path) -> dict[str, tuple[str, str]]:
    """name -> (version, sha256) of a release's requirements.txt."""
    pins = {}
    for line in path.read_text().splitlines():
        if line and not line.startswith("#"):
            spec, digest = line.split(" --hash=sha256:")
            name, version = spec.split("==")
            pins[name] = (version, digest)
    return pins


def lock_of(app: str) -> dict[str, tuple[str, set[str] | None]]:
    """name -> (version, sha256 set or None) as the app itself pins it, read here independently."""
    if app == "workspace":
        lock = tomllib.loads((FIXTURES / "workspace" / "uv.lock").read_text())
        return {
            p["name"]: (
                p["version"],
                {
                    f["hash"].removeprefix("sha256:")
                    for f in [*p.get("wheels", []), p.get("sdist", {})]
                    if f
                },
            )
            for p in lock["package"]
        }
    if app == "poetry":
        lock = tomllib.loads((FIXTURES / "poetry" / "poetry.lock").read_text())
        return {
            p["name"]: (p["version"], {f["hash"].removeprefix("sha256:") for f in p["files"]})
            for p in lock["package"]
            if "main" in p["groups"]
        }
    if app == "plain":
        lines = (FIXTURES / "plain" / "requirements.txt").read_text().splitlines()
    else:
        pyproject = (
            ROOT / "pyproject.toml" if app == "reference" else FIXTURES / app / "pyproject.toml"
        )
        lines = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = {}
    for line in lines:
        if line and not line.startswith("#") and "==" in line:
            req = Requirement(line)
            pins[canonicalize_name(req.name)] = (str(req.specifier).removeprefix("=="), None)
    return pins


@dataclass
class Release:
    app: str
    out: dict
    trees: dict[str, Path]


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("release-cache")


@pytest.fixture(scope="module", params=list(APPS))
def release(request, cache, tmp_path_factory) -> Release:
    app = request.param
    out = built(run_builder(cache, app, *APPS[app]))
    base = tmp_path_factory.mktemp(f"unpacked-{app}")
    trees = {t: unpack(out["artifacts"][t], base / t) for t in TARGETS}
    return Release(app, out, trees)


def test_requirements_hold_the_locked_versions(release):
    lock = lock_of(release.app)
    for target, tree in release.trees.items():
        pins = requirements(tree / "requirements.txt")
        for name, (version, _) in lock.items():
            if name in pins:
                assert pins[name][0] == version, (target, name)
        # Every pin the app made itself is in the release, at the app's version.
        direct = {n for n, (_, hashes) in lock.items() if hashes is None}
        assert direct <= set(pins), (target, direct - set(pins))
        assert release.out["packages"][target] == {n: v for n, (v, _) in pins.items()}


def test_every_wheel_matches_its_pin_and_the_lock(release):
    lock = lock_of(release.app)
    for target, tree in release.trees.items():
        pins = requirements(tree / "requirements.txt")
        wheels = sorted((tree / "wheelhouse").glob("*.whl"))
        assert {str(parse_wheel_filename(w.name)[0]) for w in wheels} == set(pins), target
        for wheel in wheels:
            name, version = (
                str(parse_wheel_filename(wheel.name)[0]),
                str(parse_wheel_filename(wheel.name)[1]),
            )
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            assert pins[name] == (version, digest), (target, wheel.name)
            hashes = lock.get(name, (None, None))[1]
            if hashes:  # a locked package: the file is one the lock names
                assert digest in hashes, (target, wheel.name)


def test_the_server_is_there(release):
    for target in TARGETS:
        assert set(release.out["packages"][target]) >= SERVER, target


def test_release_json_describes_the_artifact(release):
    expected = {
        "workspace": ("uv.lock", "backend", False, "0.1.0"),
        "plain": ("requirements.txt", ".", True, "0"),
        "poetry": ("poetry.lock", ".", False, "0.3.0"),
        "hello": ("pyproject.toml", ".", True, "0.1.0"),
        "reference": ("pyproject.toml", ".", True, "0.1.0"),
    }[release.app]
    out = release.out
    assert (out["lock"], out["project"], out["resolved"], out["version"]) == expected
    for target, tree in release.trees.items():
        meta = json.loads((tree / "RELEASE.json").read_text())
        assert meta["build"] == out["build"] and meta["lock"] == expected[0]
        assert target.startswith(meta["python"]) and meta["arch"] == "x86_64"
        assert meta["packages"] == out["packages"][target]
        assert not (tree / "tools").exists()  # the installer travels on its own, once per host
        # uv for the target's machine, the controller's own version (these targets: this machine).
        installer = out["installers"][target]
        ran = subprocess.run([installer, "--version"], capture_output=True, text=True, check=True)
        assert ran.stdout.split()[1] == CONTROLLER_UV, (installer, ran.stdout)


def test_a_second_build_is_a_no_op(release, cache):
    again = built(run_builder(cache, release.app, *APPS[release.app]))
    assert again["changed"] is False
    assert again["release"] == release.out["release"]
    assert again["artifacts"] == release.out["artifacts"]


def test_a_new_release_id_of_the_same_tree_reuses_the_build(release, cache):
    again = built(run_builder(cache, release.app, *APPS[release.app], "--release-id", "same-r2"))
    assert again["changed"] is False
    assert again["release"] == "same-r2" and again["build"] == release.out["build"]
    assert again["artifacts"] == release.out["artifacts"]


def test_the_source_tree_is_the_apps(release):
    src = release.trees[TARGETS[0]] / "src"
    if release.app == "workspace":
        assert (src / "uv.lock").is_file()
        assert (src / "backend" / "alembic.ini").is_file()
        prestart = src / "backend" / "scripts" / "prestart.sh"
        assert prestart.is_file() and prestart.stat().st_mode & 0o111
        assert (src / "backend" / "app" / "alembic" / "versions").is_dir()
        # Dev dependencies stay out.
        assert "pytest" not in release.out["packages"][TARGETS[0]]
    if release.app == "plain":
        assert sorted(p.name for p in src.iterdir()) == ["main.py", "requirements.txt"]
    if release.app == "reference":
        assert (src / "app" / "main.py").is_file() and (src / "alembic.ini").is_file()
        assert not any((src / name).exists() for name in [*NOT_THE_APP, ".git", ".venv"])
    assert not list(src.rglob("__pycache__"))


def test_a_git_source_builds_exactly_the_commit(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(FIXTURES / "plain", repo)
    (repo / "COMMITTED.txt").write_text("in the commit\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "app"], check=True)
    committed = (repo / "main.py").read_text()
    (repo / "main.py").write_text(committed + "\n# not committed\n")
    (repo / "untracked.txt").write_text("not committed\n")
    target = TARGETS[1]
    out = built(
        run_builder(
            tmp_path / "cache",
            "gitapp",
            "--git-repo",
            repo,
            "--git-version",
            "HEAD",
            targets=[target],
        )
    )
    commit = subprocess.run(
        [*git, "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert out["origin"] == f"{repo}@{commit}"
    src = unpack(out["artifacts"][target], tmp_path / "unpacked") / "src"
    assert (src / "main.py").read_text() == committed
    assert sorted(p.name for p in src.iterdir()) == ["COMMITTED.txt", "main.py", "requirements.txt"]


def test_a_tampered_hash_in_the_lock_stops_the_build(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(FIXTURES / "poetry", app)
    lock = app / "poetry.lock"
    wheel = re.compile(r'(file = "idna-[^"]+\.whl", hash = "sha256:)([0-9a-f]{64})')
    lock.write_text(wheel.sub(lambda m: m.group(1) + "0" * 64, lock.read_text()))
    result = run_builder(tmp_path / "cache", "tampered", "--source", app, targets=[TARGETS[0]])
    assert result.returncode != 0
    assert "DO NOT MATCH THE HASHES" in result.stderr and "idna" in result.stderr, result.stderr
    assert not list((tmp_path / "cache").rglob("*.tar.gz"))


def test_an_app_pin_that_conflicts_with_the_server_names_both(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.py").write_text("app = None\n")
    (app / "requirements.txt").write_text("uvicorn==0.13.0\n")
    result = run_builder(tmp_path / "cache", "conflict", "--source", app, targets=[TARGETS[0]])
    assert result.returncode != 0
    assert "conflicts with the server pins" in result.stderr, result.stderr
    # uv's own explanation: which server pin needs which uvicorn.
    assert "uvicorn-worker" in result.stderr and "uvicorn==0.13.0" in result.stderr


def test_a_python_the_app_does_not_support_stops_the_build(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(FIXTURES / "hello", app)
    pyproject = app / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('">=3.11"', '">=3.12"'))
    # The role names each target's hosts after its spec.
    targets = [f"{TARGETS[0]}=web1,web2"]
    result = run_builder(tmp_path / "cache", "newpy", "--source", app, targets=targets)
    assert result.returncode != 0
    assert "requires Python >=3.12" in result.stderr, result.stderr
    assert "web1, web2 runs Python 3.11" in result.stderr, result.stderr
    assert "set app_python to its path" in result.stderr


def test_no_dependency_input_names_the_project_dir(tmp_path):
    app = tmp_path / "app" / "service"
    app.mkdir(parents=True)
    (app / "main.py").write_text("app = None\n")
    result = run_builder(tmp_path / "cache", "bare", "--source", app.parent, "--project", "service")
    assert result.returncode != 0
    assert "'service'" in result.stderr and "uv.lock" in result.stderr, result.stderr


def test_a_pylock_is_used_as_locked(tmp_path):
    app = tmp_path / "app"
    shutil.copytree(FIXTURES / "poetry", app, ignore=shutil.ignore_patterns("poetry.lock"))
    pylock = ["--universal", "--format", "pylock.toml", "--output-file", "pylock.toml"]
    uv = [sys.executable, "-m", "uv", "pip", "compile", "-q", "pyproject.toml", *pylock]
    subprocess.run(uv, cwd=app, check=True)
    lock = tomllib.loads((app / "pylock.toml").read_text())
    locked = {p["name"]: p["version"] for p in lock["packages"]}
    target = TARGETS[1]
    out = built(run_builder(tmp_path / "cache", "pylock", "--source", app, targets=[target]))
    assert (out["lock"], out["resolved"]) == ("pylock.toml", False)
    packages = out["packages"][target]
    assert {n: packages[n] for n in locked if n in packages} == {
        n: v for n, v in locked.items() if n in packages
    }
    assert set(packages) - set(locked) >= {"gunicorn", "uvicorn-worker"}
