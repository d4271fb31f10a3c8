#!/usr/bin/env python3
"""Builds an app release once, on the controller: a wheel of the app and, for each target
Python/platform, a wheelhouse of its pinned dependencies with a sha256-locked requirements
file, packed as a reproducible tarball. Cached under --cache; prints one JSON object.

Release id: the sha256 of the app wheel's RECORD (the hash of every file in it), so the same
source gives the same id, and files outside the package (tests, roles) do not make a new one.
"""

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    from packaging.markers import default_environment
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name
except ImportError:  # pip always carries a copy
    from pip._vendor.packaging.markers import default_environment
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

# Never part of a release's source: VCS data, virtualenvs, build and tool caches.
IGNORED = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    ".cache",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    ".hypothesis",
    ".tox",
    ".molecule",
    "node_modules",
)


def run(*cmd: str, cwd: Path | None = None) -> str:
    # Fixed argv lists built here, never a shell.
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result.stdout


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch_source(args: argparse.Namespace, work: Path, cache: Path) -> tuple[Path, str]:
    """The source tree in a scratch directory, and a note on where it came from."""
    tree = work / "src"
    if args.git_repo:
        mirror = cache / "git" / hashlib.sha256(args.git_repo.encode()).hexdigest()[:16]
        if not mirror.exists():
            run("git", "clone", "--quiet", "--mirror", args.git_repo, str(mirror))
        else:
            run("git", "-C", str(mirror), "fetch", "--quiet", "--prune", "origin")
        commit = run(
            "git", "-C", str(mirror), "rev-parse", f"{args.git_version}^{{commit}}"
        ).strip()
        tree.mkdir()
        git = shutil.which("git") or "git"
        archive = subprocess.run(  # noqa: S603
            [git, "-C", str(mirror), "archive", "--format=tar", commit],
            capture_output=True,
            check=True,
        ).stdout
        (work / "src.tar").write_bytes(archive)
        with tarfile.open(work / "src.tar") as tar:
            tar.extractall(tree, filter="data")
        return tree, f"{args.git_repo}@{commit}"
    shutil.copytree(args.source, tree, ignore=IGNORED, symlinks=True)
    return tree, str(Path(args.source).resolve())


def build_wheel(tree: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--wheel-dir",
        str(out),
        str(tree),
    )
    wheels = sorted(out.glob("*.whl"))
    if len(wheels) != 1:
        sys.exit(f"expected one wheel from {tree}, found {[w.name for w in wheels]}")
    return wheels[0]


def wheel_release_id(wheel: Path) -> str:
    """Hash of every file in the wheel, but of METADATA only its headers: the long description
    (a README) is no part of what runs."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        record = next(n for n in names if n.endswith(".dist-info/RECORD"))
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        lines = sorted(
            line
            for line in archive.read(record).decode().splitlines()
            if line and not line.startswith((record + ",", metadata + ","))
        )
        headers = Parser().parsestr(archive.read(metadata).decode(), headersonly=True)
        lines += sorted(f"{key}: {value}" for key, value in headers.items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def platforms(arch: str, glibc: str) -> list[str]:
    """Every manylinux tag a host with this glibc runs (pip does not expand manylinux_2_X)."""
    major, minor = (int(x) for x in glibc.split(".")[:2])
    tags = [f"manylinux_{major}_{m}_{arch}" for m in range(minor, 4, -1)]
    return [*tags, f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]


def wheel_name_version(wheel: Path) -> tuple[str, str]:
    name, version = wheel.name.split("-")[:2]
    return name.replace("_", "-").lower(), version


def reproducible_tar(source: Path, target: Path) -> None:
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
        info.mode = 0o755 if info.isdir() else 0o644
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


def target_environment(python: str, arch: str) -> dict[str, str]:
    """Marker values of the target: pip evaluates markers for the controller's Python only."""
    env = default_environment()
    env.update(
        python_version=".".join(python.split(".")[:2]),
        python_full_version=python,
        implementation_name="cpython",
        implementation_version=python,
        platform_python_implementation="CPython",
        platform_machine=arch,
        platform_system="Linux",
        sys_platform="linux",
        os_name="posix",
    )
    return env


def requires(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = Parser().parsestr(archive.read(name).decode())
    return metadata.get_all("Requires-Dist") or []


def closure(root: Path, wheelhouse: Path, env: dict[str, str]) -> tuple[list[Path], list[str]]:
    """The wheels the target installs, from the root wheel down, and requirements not there yet."""
    index = {canonicalize_name(wheel_name_version(w)[0]): w for w in wheelhouse.glob("*.whl")}
    wanted, missing, seen = [root], [], set()
    queue: list[tuple[Path, frozenset[str]]] = [(root, frozenset())]
    while queue:
        wheel, extras = queue.pop()
        for line in requires(wheel):
            req = Requirement(line)
            if req.marker and not any(
                req.marker.evaluate({**env, "extra": extra}) for extra in ("", *extras)
            ):
                continue
            name = canonicalize_name(req.name)
            if name not in index:
                missing.append(str(Requirement(f"{req.name}{req.specifier}")))
                continue
            key = (name, frozenset(req.extras))
            if key not in seen:
                seen.add(key)
                wanted.append(index[name])
                queue.append((index[name], frozenset(req.extras)))
    return sorted(set(wanted)), sorted(set(missing))


def build_artifact(wheel: Path, release: str, target: str, meta: dict, out: Path) -> Path:
    python, arch, glibc = target.split("-")
    artifact = out / f"{meta['built_from']}-py{python}-{arch}.tar.gz"
    if artifact.exists():
        return artifact
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "release"
        downloads = Path(scratch) / "downloads"
        wheelhouse = root / "wheelhouse"
        wheelhouse.mkdir(parents=True)
        downloads.mkdir()
        shutil.copy2(wheel, downloads / wheel.name)
        nodot = "".join(python.split(".")[:2])
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--python-version",
            python,
            "--implementation",
            "cp",
            "--abi",
            f"cp{nodot}",
            "--abi",
            "abi3",
            "--abi",
            "none",
            "--dest",
            str(downloads),
        ]
        for tag in platforms(arch, glibc):
            cmd += ["--platform", tag]
        env = target_environment(python, arch)
        run(*cmd, str(downloads / wheel.name))
        for _ in range(10):
            wanted, missing = closure(downloads / wheel.name, downloads, env)
            if not missing:
                break
            run(*cmd, *missing)
        else:
            sys.exit(f"dependencies of {wheel.name} for {target} never settled: {missing}")
        for path in wanted:
            shutil.copy2(path, wheelhouse / path.name)
        # The installer itself: run from its wheel, so hosts need neither pip nor ensurepip.
        run(*cmd, "--no-deps", "pip")
        tools = root / "tools"
        tools.mkdir()
        for path in downloads.glob("pip-*.whl"):
            shutil.copy2(path, tools / "pip.whl")
        lock = [f"# {release} for CPython {python} on {arch} (glibc >= {glibc}); sha256-locked."]
        for path in sorted(wheelhouse.glob("*.whl")):
            name, version = wheel_name_version(path)
            lock.append(f"{name}=={version} --hash=sha256:{file_hash(path)}")
        (root / "requirements.txt").write_text("\n".join(lock) + "\n")
        (root / "RELEASE.json").write_text(
            json.dumps({**meta, "release": release, "python": python, "arch": arch}, indent=2)
            + "\n"
        )
        reproducible_tar(root, artifact)
    return artifact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", required=True, help="app name: the cache namespace")
    parser.add_argument("--source", help="local source directory")
    parser.add_argument("--git-repo")
    parser.add_argument("--git-version", default="HEAD")
    parser.add_argument("--release-id", default="", help="override the computed id")
    parser.add_argument("--cache", required=True, type=Path)
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        help="PYTHON-ARCH-GLIBC of a host, e.g. 3.11-x86_64-2.36 (repeatable)",
    )
    args = parser.parse_args()
    if bool(args.source) == bool(args.git_repo):
        sys.exit("give exactly one of --source and --git-repo")

    cache = args.cache / args.name
    cache.mkdir(parents=True, exist_ok=True)
    changed = False
    with tempfile.TemporaryDirectory(dir=cache) as scratch:
        work = Path(scratch)
        tree, origin = fetch_source(args, work, args.cache)
        # Known source tree: skip the wheel build (the slow part when nothing changed).
        index = cache / "sources" / f"{tree_hash(tree)}.json"
        known = json.loads(index.read_text()) if index.exists() else None
        if known and Path(known["wheel"]).exists():
            wheel, built_id = Path(known["wheel"]), known["release"]
        else:
            fresh = build_wheel(tree, work / "wheel")
            built_id = wheel_release_id(fresh)
            wheel = cache / "wheels" / built_id / fresh.name
            if not wheel.exists():
                wheel.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(fresh, wheel)
            index.parent.mkdir(parents=True, exist_ok=True)
            index.write_text(json.dumps({"release": built_id, "wheel": str(wheel)}) + "\n")
    release = args.release_id or built_id
    name, version = wheel_name_version(wheel)
    meta = {"name": name, "version": version, "origin": origin, "built_from": built_id}
    out = cache / "releases" / release
    out.mkdir(parents=True, exist_ok=True)
    artifacts = {}
    for target in sorted(set(args.target)):
        python, arch = target.split("-")[:2]
        before = (out / f"{built_id}-py{python}-{arch}.tar.gz").exists()
        artifacts[target] = str(build_artifact(wheel, release, target, meta, out))
        changed = changed or not before
    print(
        json.dumps(
            {
                "release": release,
                "version": version,
                "origin": origin,
                "artifacts": artifacts,
                "changed": changed,
            }
        )
    )


if __name__ == "__main__":
    main()
