"""Reproducible installs: requirements/*.lock pin every package, transitive ones included, with
hashes; the Makefile's venv, CI (through make) and the Dockerfile install from them."""

import importlib.metadata
import re
import tomllib
from pathlib import Path

from kernel.config import PROJECT_ROOT

RUNTIME = PROJECT_ROOT / "requirements" / "runtime.lock"
DEV = PROJECT_ROOT / "requirements" / "dev.lock"
PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
REQUIREMENT = re.compile(r"^([A-Za-z0-9_.\-]+)==([^\s;\\]+)")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name -> version; asserts each requirement carries hashes."""
    entries: list[list[str]] = []
    for line in path.read_text().splitlines():
        if line[:1].isalnum():
            entries.append([line])
        elif line.startswith("    ") and entries:
            entries[-1].append(line)
    result = {}
    for entry in entries:
        match = REQUIREMENT.match(entry[0])
        assert match, f"{path.name}: not a pinned requirement: {entry[0]}"
        assert any("--hash=sha256:" in line for line in entry), f"{match.group(1)} has no hash"
        result[canonical(match.group(1))] = match.group(2)
    return result


def declared(group: list[str]) -> dict[str, str]:
    return {canonical(r.split("==")[0]): r.split("==")[1] for r in group}


def test_every_package_is_pinned_with_hashes():
    runtime, dev = pins(RUNTIME), pins(DEV)
    assert "kombu" in runtime and "amqp" in runtime  # transitive packages are there
    assert set(runtime) <= set(dev)
    assert {name: dev[name] for name in runtime} == runtime


def test_locks_agree_with_pyproject():
    runtime, dev = pins(RUNTIME), pins(DEV)
    project = PYPROJECT["project"]
    for name, version in declared(project["dependencies"]).items():
        assert runtime[name] == version, name
    extras = project["optional-dependencies"]
    for name, version in {**declared(extras["dev"]), **declared(extras["bench"])}.items():
        assert dev[name] == version, name
    assert "matplotlib" not in runtime and "matplotlib" in declared(extras["bench"])


def test_installs_come_from_the_locks():
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r $(LOCK)" in makefile
    assert "LOCK := requirements/dev.lock" in makefile
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "COPY requirements/runtime.lock" in dockerfile
    assert "--require-hashes --no-deps -r runtime.lock" in dockerfile


def test_this_environment_matches_the_lock():
    for name, version in pins(DEV).items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue  # platform-specific (e.g. a Windows-only dependency)
        assert installed == version, f"{name}: installed {installed}, locked {version}"
