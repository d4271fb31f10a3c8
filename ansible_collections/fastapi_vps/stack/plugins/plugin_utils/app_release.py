# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Builds an app release once, on the controller: the app's own source tree plus, for each
target Python/platform, a wheelhouse of exactly what the app's lock holds for that target, with
a sha256-locked requirements.txt, packed as a reproducible tarball, cached under the cache
directory, and uv for the target's machine (the controller's version) that installs it there.
The action fastapi_vps.stack.app_release calls build_release(); run as a script
(`python app_release.py --help`), it takes the same inputs as flags and prints one JSON object.

Inputs, looked for in the project dir in this order (uv.lock also in the folders above it, up
to the tree root, where a uv workspace keeps it):
  uv.lock           `uv export --frozen`: versions, markers and hashes from the lock
  pylock.toml       PEP 751: each package's version, marker and file hashes
  poetry.lock       the main group's packages, markers and file hashes
  requirements.txt  (or the requirements option) used as it is when every line is `==`-pinned with a
                    --hash; otherwise it is resolved with uv for each target, and the result
                    (hashes from the index) is what the release holds: "resolved": true says so
  pyproject.toml    [project].dependencies without any lock: resolved for each target likewise
For each target, uv resolves that set for the target's Python and platform (which also proves a
lock complete and consistent there), the server pins the app does not name itself are added,
and pip downloads the wheels, checked against the lock's hashes. A project with a build system
is built into a wheel and installed too; one without runs from src/<project>.

Release id: the first 12 hex of a sha256 over the source tree's content (after the ignore and
exclude patterns; the lock is part of it), the project dir, the requirements name, the
server pins and FORMAT: the build id. Artifacts are cached by build id, so the same tree reuses
them under any release id (a deploy of the same code as a new release costs no build), even for
a resolved input whose newest versions have moved on since: change the tree to rebuild.
"""

import argparse
import fnmatch
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple

# ansible-core requires packaging, so the controller has it; the guard is for ansible-test's
# import check, which loads plugins in a bare virtualenv.
try:
    from packaging.requirements import InvalidRequirement, Requirement
    from packaging.specifiers import SpecifierSet
    from packaging.utils import canonicalize_name, parse_wheel_filename
except ImportError as error:
    PACKAGING_MISSING: ImportError | None = error
else:
    PACKAGING_MISSING = None

# Bump when the artifact's layout or contents change, so an old cached artifact is not reused.
FORMAT = "2"
# Never part of a release's source: VCS data, virtualenvs, build and tool caches.
IGNORED = [".git", ".venv", "venv", ".cache", "build", "dist", "*.egg-info", "__pycache__"]
IGNORED += ["*.pyc", ".pytest_cache", ".ruff_cache", ".mypy_cache", ".hypothesis", ".tox"]
IGNORED += [".molecule", ".ansible", "node_modules"]
# The newest manylinux tag uv's --python-platform knows; a newer glibc runs those wheels too.
UV_MAX_GLIBC_MINOR = 40
LOOKED_FOR = "uv.lock (here or above), pylock.toml, poetry.lock, requirements.txt, pyproject.toml"
# The controller only needs the targets' tags, never their interpreters.
ENV = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "NO_COLOR": "1"}
# The app role's pins, for the script; the action is given them.
SERVER_PINS = Path(__file__).resolve().parents[2] / "roles/app/files/server-requirements.txt"
# uv from the dev extra sits beside this Python; otherwise one on PATH.
UV = shutil.which("uv", path=os.pathsep.join([str(Path(sys.executable).parent), ENV["PATH"]]))


class BuildError(Exception):
    pass


class Request(NamedTuple):
    name: str  # the app: its cache namespace and the release's name
    cache: Path  # the cache root: builds under <cache>/<name>, git mirrors under <cache>/git
    targets: dict[str, list[str]]  # PY-ARCH-GLIBC -> the hosts that run it (for messages)
    server_pins: Path  # the app server's pins (gunicorn, uvicorn), part of every release
    source: str = ""  # a local source directory, or
    git_repo: str = ""  # a git repository, at
    git_version: str = "HEAD"
    release_id: str = ""  # overrides the computed id
    project: str = "."  # the app's project dir in the tree, e.g. backend
    requirements: str = ""  # a requirements file in the project dir; empty: detect
    exclude: tuple[str, ...] = ()  # globs: a name anywhere, or a path from the root


class Pin(NamedTuple):
    version: str
    marker: str
    hashes: tuple[str, ...]  # sha256 hex digests of the files the lock allows


class Inputs(NamedTuple):
    kind: str  # RELEASE.json's "lock"
    sources: list[Path]  # what uv resolves for a target
    locked: dict[str, Pin]  # the lock's pins; empty when the input is resolved
    names: set[str]  # packages the app names itself: these beat the server pins


class Target(NamedTuple):
    spec: str
    python: str
    arch: str
    glibc: str
    hosts: str  # the hosts that run it, for messages; may be empty

    def __str__(self) -> str:
        return f"{self.spec} ({self.hosts})" if self.hosts else self.spec


def run(*cmd: str | Path, cwd: Path | None = None) -> str:
    argv = [str(part) for part in cmd]
    try:  # fixed argv lists built here, never a shell
        result = subprocess.run(argv, cwd=cwd, env=ENV, capture_output=True, text=True, check=False)  # noqa: S603
    except FileNotFoundError:
        raise BuildError(f"{argv[0]} not found (uv: install the dev extra)") from None
    if result.returncode != 0:
        output = f"{result.stdout}\n{result.stderr}".strip()
        raise BuildError(f"{' '.join(argv)} failed ({result.returncode}):\n{output}")
    return result.stdout


def uv(*args: str | Path, cwd: Path | None = None) -> str:
    return run(UV, *args, cwd=cwd)


def excluded(rel: PurePosixPath, patterns: list[str]) -> bool:
    """A pattern without a slash matches any name in the path; one with a slash (`/roles`,
    `docs/build`) matches the path from the root, as in .gitignore."""
    prefixes = [PurePosixPath(*rel.parts[: i + 1]).as_posix() for i in range(len(rel.parts))]
    return any(
        fnmatch.fnmatchcase(name, pattern.strip("/"))
        for pattern in patterns
        for name in (prefixes if "/" in pattern else rel.parts)
    )


def fetch_source(request: Request, work: Path, patterns: list[str]) -> tuple[Path, str]:
    """The source tree in a scratch directory, and a note on where it came from."""
    tree = work / "src"
    if not request.git_repo:
        root = Path(request.source).resolve()

        def ignore(folder: str, names: list[str]) -> set[str]:
            rel = PurePosixPath(Path(folder).relative_to(root).as_posix())
            return {name for name in names if excluded(rel / name, patterns)}

        shutil.copytree(root, tree, ignore=ignore, symlinks=True)
        return tree, str(root)
    mirror = request.cache / "git" / hashlib.sha256(request.git_repo.encode()).hexdigest()[:16]
    if not mirror.exists():
        run("git", "clone", "--quiet", "--mirror", request.git_repo, mirror)
    else:
        run("git", "-C", mirror, "fetch", "--quiet", "--prune", "origin")
    commit = run("git", "-C", mirror, "rev-parse", f"{request.git_version}^{{commit}}").strip()
    run("git", "-C", mirror, "archive", "--format=tar", f"--output={work / 'src.tar'}", commit)

    def keep(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        skip = excluded(PurePosixPath(member.name), patterns)
        return None if skip else tarfile.data_filter(member, dest)

    tree.mkdir()
    with tarfile.open(work / "src.tar") as tar:
        tar.extractall(tree, filter=keep)  # noqa: S202 (a filter that refuses unsafe members)
    return tree, f"{request.git_repo}@{commit}"


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix().encode()
        if path.is_symlink():
            digest.update(b"L" + rel + b"\0" + os.readlink(path).encode() + b"\0")
        elif path.is_file():
            mode = b"x" if os.access(path, os.X_OK) else b"f"
            digest.update(mode + rel + b"\0" + bytes.fromhex(file_hash(path)))
    return digest.hexdigest()


def read_toml(path: Path) -> dict[str, Any]:
    return tomllib.loads(path.read_text()) if path.is_file() else {}


def requirement_lines(text: str) -> list[str]:
    """Logical lines of a requirements file, continuations joined, comments dropped."""
    joined = text.replace("\\\n", " ").splitlines()
    return [line.split(" #")[0].strip() for line in joined if line.strip()[:1] not in ("", "#")]


def parse_pins(text: str) -> dict[str, Pin]:
    """`name==version ; marker --hash=sha256:...` lines; ValueError on anything else."""
    pins = {}
    for line in requirement_lines(text):
        words = line.split()
        hashes = tuple(
            w.removeprefix("--hash=sha256:") for w in words if w.startswith("--hash=sha256:")
        )
        spec = " ".join(w for w in words if not w.startswith("--hash="))
        try:
            req = Requirement(spec)
        except InvalidRequirement as error:
            raise ValueError(f"not a requirement: {line}") from error
        versions = [s.version for s in req.specifier if s.operator in ("==", "===")]
        if len(req.specifier) != 1 or not versions or "*" in versions[0]:
            raise ValueError(f"not pinned to one version: {line}")
        pins[canonicalize_name(req.name)] = Pin(versions[0], str(req.marker or ""), hashes)
    return pins


def requirement_names(text: str) -> set[str]:
    names = set()
    for line in requirement_lines(text):
        try:
            names.add(canonicalize_name(Requirement(line.split(" --")[0]).name))
        except InvalidRequirement:
            continue  # an option line (-r, --index-url, ...), not a package
    return names


def pylock_pins(path: Path) -> dict[str, Pin]:
    pins = {}
    for package in tomllib.loads(path.read_text()).get("packages", []):
        if "version" not in package:
            raise BuildError(f"{path.name}: {package['name']} has no version (not from an index)")
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        hashes = tuple(f["hashes"]["sha256"] for f in files if "sha256" in f.get("hashes", {}))
        name = canonicalize_name(package["name"])
        pins[name] = Pin(package["version"], package.get("marker", ""), hashes)
    return pins


def poetry_pins(path: Path) -> dict[str, Pin]:
    lock = tomllib.loads(path.read_text())
    legacy_files = lock.get("metadata", {}).get("files", {})  # lock-version 1.x kept them here
    pins = {}
    for package in lock.get("package", []):
        groups = package.get("groups") or [package.get("category", "main")]
        if "main" not in groups or package.get("optional", False):
            continue  # dev groups and extras are not installed
        if package.get("source", {}).get("type") not in (None, "legacy"):
            raise BuildError(f"{path.name}: {package['name']} is not from an index")
        marker = package.get("markers", "")
        if isinstance(marker, dict):  # lock-version 2.1: markers per group
            marker = marker.get("main", "")
        files = package.get("files") or legacy_files.get(package["name"], [])
        hashes = tuple(
            f["hash"].removeprefix("sha256:") for f in files if f["hash"].startswith("sha256:")
        )
        pins[canonicalize_name(package["name"])] = Pin(package["version"], marker, hashes)
    return pins


def find_uv_lock(tree: Path, project: Path) -> Path | None:
    folders = [project, *project.parents][: len(project.relative_to(tree).parts) + 1]
    return next((f / "uv.lock" for f in folders if (f / "uv.lock").is_file()), None)


def write_pins(path: Path, pins: dict[str, Pin], hashes: bool = False) -> Path:
    """A requirements file; markers kept (they matter before a target is chosen)."""
    with path.open("w") as out:
        for name, pin in pins.items():
            marker = f" ; {pin.marker}" if pin.marker else ""
            digests = "".join(f" --hash=sha256:{h}" for h in pin.hashes) if hashes else ""
            out.write(f"{name}=={pin.version}{marker}{digests}\n")
    return path


def read_inputs(tree: Path, project: Path, requirements: str, work: Path) -> Inputs:
    pyproject = read_toml(project / "pyproject.toml")
    uv_lock = None if requirements else find_uv_lock(tree, project)
    given = project / (requirements or "requirements.txt")
    if uv_lock:
        kind, name = "uv.lock", pyproject.get("project", {}).get("name")
        export = ["export", "--frozen", "--format", "requirements-txt", "--no-dev", "--no-header"]
        export += ["--no-annotate", "--no-emit-workspace", *(["--package", name] if name else [])]
        pins = parse_pins(uv(*export, cwd=uv_lock.parent))
    elif not requirements and (project / "pylock.toml").is_file():
        kind, pins = "pylock.toml", pylock_pins(project / "pylock.toml")
    elif not requirements and (project / "poetry.lock").is_file():
        kind, pins = "poetry.lock", poetry_pins(project / "poetry.lock")
    elif given.is_file():
        kind, text = "requirements.txt", given.read_text()
        try:
            pins = parse_pins(text)
        except ValueError:
            pins = {}
        if not pins or not all(pin.hashes for pin in pins.values()):  # resolved per target
            return Inputs(kind, [given], {}, requirement_names(text))
    elif requirements:
        raise BuildError(f"requirements {requirements!r}: no such file in the project dir")
    elif "project" in pyproject:
        deps = "\n".join(pyproject["project"].get("dependencies", []))
        return Inputs("pyproject.toml", [project / "pyproject.toml"], {}, requirement_names(deps))
    else:
        rel = project.relative_to(tree).as_posix()
        raise BuildError(f"no dependencies found in project dir {rel!r}: looked for {LOOKED_FOR}")
    if unhashed := sorted(name for name, pin in pins.items() if not pin.hashes):
        raise BuildError(f"{kind} has no sha256 hash for: {', '.join(unhashed)}")
    return Inputs(kind, [write_pins(work / "locked.in", pins)], pins, set(pins))


def compile_for(target: Target, sources: list[Path], work: Path, hashes: bool) -> dict[str, Pin]:
    major, minor = (int(x) for x in target.glibc.split(".")[:2])
    platform = f"{target.arch}-manylinux_{major}_{min(minor, UV_MAX_GLIBC_MINOR)}"
    cmd = ["pip", "compile", *sources, "--python-version", target.python]
    # Only wheels: hosts have no compiler, and a package without one stops here, by name.
    cmd += ["--python-platform", platform, "--only-binary", ":all:", "--no-header", "--no-annotate"]
    return parse_pins(uv(*cmd, *(["--generate-hashes"] if hashes else []), cwd=work))


def target_pins(inputs: Inputs, resolved: dict[str, Pin]) -> dict[str, Pin]:
    """Locked packages keep the lock's hashes, never the index's; markers are spent: pip would
    evaluate them for the controller's Python."""
    return {n: inputs.locked.get(n, pin)._replace(marker="") for n, pin in resolved.items()}


def resolve(inputs: Inputs, server: list[str], target: Target, work: Path) -> dict[str, Pin]:
    """The pins this target installs: the lock's (with its hashes) plus the server pins."""
    try:
        app = compile_for(target, inputs.sources, work, hashes=not inputs.locked)
    except BuildError as error:
        raise BuildError(
            f"the app's {inputs.kind} does not resolve for {target}:\n{error}"
        ) from None
    if unlocked := sorted(set(app) - set(inputs.locked) if inputs.locked else []):
        raise BuildError(f"{inputs.kind} is incomplete for {target}: it lacks {unlocked}")
    extra = [line for line in server if requirement_names(line).isdisjoint(inputs.names)]
    if not extra:
        return target_pins(inputs, app)
    # The lock's versions held fixed for this target; a resolved input is resolved again, jointly.
    base = [write_pins(work / "fixed.in", app)] if inputs.locked else inputs.sources
    (work / "server.in").write_text("\n".join(extra) + "\n")
    try:
        joint = compile_for(target, [*base, work / "server.in"], work, hashes=True)
    except BuildError as error:
        raise BuildError(
            f"the app's {inputs.kind} conflicts with the server pins {', '.join(extra)} on "
            f"{target}; pin versions that go together in the app (the app's win):\n{error}"
        ) from None
    return target_pins(inputs, joint)


def platforms(arch: str, glibc: str) -> list[str]:
    """Every manylinux tag a host with this glibc runs (pip does not expand manylinux_2_X)."""
    major, minor = (int(x) for x in glibc.split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


def pip_download(target: Target, dest: Path, *args: str | Path) -> None:
    nodot = "".join(target.python.split(".")[:2])
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--progress-bar=off", "--no-deps"]
    cmd += ["--only-binary=:all:", "--python-version", target.python, "--implementation", "cp"]
    cmd += ["--abi", f"cp{nodot}", "--abi", "abi3", "--abi", "none", "--dest", str(dest)]
    for tag in platforms(target.arch, target.glibc):
        cmd += ["--platform", tag]
    run(*cmd, *args)


def wheel_name_version(wheel: Path) -> tuple[str, str]:
    name, version, *_rest = parse_wheel_filename(wheel.name)
    return str(name), str(version)


def build_project(tree: Path, project: Path, work: Path) -> Path | None:
    """The app's own wheel, when it has a build system; built from a copy (builds leave files)."""
    pyproject = read_toml(project / "pyproject.toml")
    if (
        "build-system" not in pyproject
        or pyproject.get("tool", {}).get("uv", {}).get("package") is False
    ):
        return None
    copy, out = work / "build-tree", work / "project-wheel"
    shutil.copytree(tree, copy, symlinks=True)
    uv("build", "--wheel", "--out-dir", out, copy / project.relative_to(tree), cwd=work)
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        raise BuildError(f"expected one wheel of the app, found {[w.name for w in wheels]}")
    return wheels[0]


def reproducible_tar(source: Path, target: Path) -> None:
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
        # Scripts in the source (scripts/prestart.sh) stay executable.
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
        return info

    partial = target.with_suffix(".partial")
    with open(partial, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
        tar.add(source, arcname=".", filter=clean, recursive=False)
        for path in sorted(source.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(source)), filter=clean, recursive=False)
    # The gzip header carries a time stamp; zero it so the same content gives the same bytes.
    data = bytearray(partial.read_bytes())
    data[4:8] = b"\0\0\0\0"
    partial.write_bytes(bytes(data))
    partial.replace(target)


def build_artifact(
    target: Target, pins: dict[str, Pin], wheel: Path | None, tree: Path, meta: dict, artifact: Path
) -> None:
    with tempfile.TemporaryDirectory(dir=artifact.parent) as scratch:
        root = Path(scratch) / "release"
        wheelhouse = root / "wheelhouse"
        shutil.copytree(tree, root / "src", symlinks=True)
        wanted = write_pins(Path(scratch) / "wanted.txt", pins, hashes=True)
        try:
            pip_download(target, wheelhouse, "--require-hashes", "-r", wanted)
        except BuildError as error:
            raise BuildError(f"fetching the wheels for {target}:\n{error}") from None
        found = dict(wheel_name_version(w) for w in wheelhouse.glob("*.whl"))
        if missing := sorted(set(pins) - set(found)):
            raise BuildError(f"no wheel for {target} of: {', '.join(missing)}")
        if wheel:
            shutil.copy2(wheel, wheelhouse / wheel.name)
        wheels = {wheel_name_version(w): w for w in sorted(wheelhouse.glob("*.whl"))}
        # Each wheel's own hash: pip has just checked that it is one of the lock's.
        host = f"CPython {target.python} {target.arch} glibc {target.glibc}"
        lines = [f"# build {meta['build']}: {host}"]
        lines += [f"{n}=={v} --hash=sha256:{file_hash(w)}" for (n, v), w in wheels.items()]
        (root / "requirements.txt").write_text("\n".join(lines) + "\n")
        release = meta | {
            "python": target.python,
            "arch": target.arch,
            "packages": dict(wheels.keys()),
        }
        (root / "RELEASE.json").write_text(json.dumps(release, indent=2) + "\n")
        reproducible_tar(root, artifact)


def installer(target: Target, version: str, cache: Path) -> Path:
    """uv `version` (the controller's) for the target's machine, kept in the cache: the hosts
    install a release's wheels with it (offline, hash-checked, bytecode compiled in parallel),
    sent once per host and version instead of inside every release."""
    path = cache / "tools" / f"uv-{version}-{target.arch}"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        try:
            pip_download(target, Path(scratch), f"uv=={version}")
        except BuildError as error:
            raise BuildError(f"fetching uv {version} for {target.arch}:\n{error}") from None
        with zipfile.ZipFile(next(Path(scratch).glob("uv-*.whl"))) as wheel:
            binary = next(n for n in wheel.namelist() if n.endswith(".data/scripts/uv"))
            partial = Path(scratch) / "uv"
            partial.write_bytes(wheel.read(binary))
        partial.chmod(0o755)
        partial.replace(path)
    return path


def release_json(artifact: Path) -> dict[str, Any]:
    # Members are sorted, so RELEASE.json comes early: no need to read the whole archive.
    with tarfile.open(artifact) as tar:
        for member in tar:
            if member.name == "RELEASE.json" and (file := tar.extractfile(member)):
                return json.load(file)
    raise BuildError(f"{artifact} has no RELEASE.json")


def check_python(project: dict[str, Any], targets: list[Target]) -> None:
    for target in targets:
        if (spec := project.get("requires-python")) and target.python not in SpecifierSet(spec):
            raise BuildError(
                f"the app requires Python {spec} (requires-python), but "
                f"{target.hosts or 'target ' + target.spec} runs Python {target.python}: install "
                "one that satisfies it on the hosts and set app_python to its path"
            )


def build(request: Request, work: Path, cache: Path) -> dict[str, Any]:
    targets = []
    for spec, hosts in sorted(request.targets.items()):
        fields = spec.split("-")
        if len(fields) != 3 or not all(fields):
            named = ", ".join(hosts) or "no host"
            raise BuildError(f"target {spec!r} of {named}: not PY-ARCH-GLIBC")
        targets.append(Target(spec, *fields, ", ".join(hosts)))
    tree, origin = fetch_source(request, work, [*IGNORED, *request.exclude])
    project = (tree / request.project).resolve()
    if not project.is_dir() or not project.is_relative_to(tree):
        raise BuildError(f"project {request.project!r}: no such directory in the source tree")
    rel, metadata = project.relative_to(tree).as_posix(), read_toml(project / "pyproject.toml")
    static_version = metadata.get("project", {}).get("version")
    check_python(metadata.get("project", {}), targets)
    server = request.server_pins.read_text()
    parts = [FORMAT, tree_hash(tree), rel, request.requirements, server]
    built_id = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:12]
    release = request.release_id or built_id
    out = cache / "builds"
    out.mkdir(parents=True, exist_ok=True)
    names = {
        t: f"{built_id}-py{'.'.join(t.python.split('.')[:2])}-{t.arch}.tar.gz" for t in targets
    }
    paths = {t: out / name for t, name in names.items()}
    todo = [t for t in targets if not paths[t].exists()]
    if todo:
        inputs = read_inputs(tree, project, request.requirements, work)
        wheel = build_project(tree, project, work)
        name, version = wheel_name_version(wheel) if wheel else ("", "0")
        meta = {"name": request.name, "version": static_version or version}
        meta |= {"origin": origin, "build": built_id, "lock": inputs.kind, "project": rel}
        meta["resolved"] = not inputs.locked
    for target in todo:
        if not paths[target].exists():  # two targets may share one artifact
            pins = resolve(inputs, requirement_lines(server), target, work)
            pins.pop(name, None)  # the app's own wheel, built above, stands in for it
            build_artifact(target, pins, wheel, tree, meta, paths[target])
    releases = {t.spec: release_json(paths[t]) for t in targets}
    uv_version = uv("--version").split()[1]
    first = next(iter(releases.values()), {"version": static_version or "0"})
    return {
        "release": release,
        "build": built_id,
        "version": first["version"],
        "origin": origin,
        "artifacts": {t.spec: str(paths[t]) for t in targets},
        "installers": {t.spec: str(installer(t, uv_version, cache)) for t in targets},
        "changed": bool(todo),
        "lock": first.get("lock", ""),
        "project": rel,
        "resolved": first.get("resolved", False),
        "packages": {spec: built["packages"] for spec, built in releases.items()},
    }


def build_release(request: Request) -> dict[str, Any]:
    """Builds, or finds in the cache, the release's artifact for every target."""
    if PACKAGING_MISSING:
        raise BuildError(f"the controller's Python lacks packaging: {PACKAGING_MISSING}")
    if bool(request.source) == bool(request.git_repo):
        raise BuildError("give exactly one of source and git_repo")
    if request.source and not Path(request.source).is_dir():
        raise BuildError(f"source {request.source!r}: no such directory")
    cache = request.cache / request.name
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        return build(request, Path(scratch).resolve(), cache)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = parser.add_argument
    add("--name", required=True, help="app name: the cache namespace")
    add("--source", default="", help="local source directory")
    add("--git-repo", default="")
    add("--git-version", default="HEAD")
    add("--release-id", default="", help="override the computed id")
    add("--cache", required=True, type=Path)
    add(
        "--target",
        action="append",
        default=[],
        help="PY-ARCH-GLIBC[=HOST,...], e.g. 3.11.2-x86_64-2.36=web1; repeat it, once per host",
    )
    add("--project", default=".", help="the app's project dir in the tree, e.g. backend")
    add("--requirements", default="", help="requirements file in the project dir (default: detect)")
    add("--server-pins", type=Path, default=SERVER_PINS)
    add("--exclude", action="append", default=[], help="glob: a name or a path from the root")
    args = parser.parse_args()
    targets: dict[str, list[str]] = {}
    for spec, _sep, hosts in (text.partition("=") for text in args.target):
        targets.setdefault(spec, []).extend(filter(None, hosts.split(",")))
    request = Request(
        args.name, args.cache, targets, args.server_pins, args.source, args.git_repo,
        args.git_version, args.release_id, args.project, args.requirements, tuple(args.exclude),
    )  # fmt: skip
    try:
        print(json.dumps(build_release(request)))
    except BuildError as error:
        sys.exit(str(error))


if __name__ == "__main__":
    main()
