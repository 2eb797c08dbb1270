"""`make help` is the list of what a developer can run: every target is in it with a description."""

import re
import subprocess

from kernel.config import PROJECT_ROOT

MAKEFILE = PROJECT_ROOT / "Makefile"
RULE = re.compile(r"^([a-z][a-z0-9-]*):(?!=)", re.MULTILINE)


def test_every_target_is_described_in_make_help() -> None:
    targets = set(RULE.findall(MAKEFILE.read_text()))
    listed = subprocess.run(
        ["make", "--no-print-directory", "-C", str(PROJECT_ROOT), "help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    described = {line.split()[1] for line in listed.splitlines() if line.startswith("make ")}
    assert targets, "no targets found in the Makefile"
    assert targets == described


def test_test_targets_select_their_folders() -> None:
    for target, folder in (
        ("test-unit", "unit"),
        ("test-integration", "integration"),
        ("test-e2e", "e2e"),
    ):
        recipe = subprocess.run(
            ["make", "--no-print-directory", "-n", "-C", str(PROJECT_ROOT), target],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert f"pytest tests/{folder}" in recipe, recipe
