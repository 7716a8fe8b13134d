"""The CI entry point itself: a shell script no other test runs until CI does."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CI_RUN = ROOT / ".ci" / "run"


def test_ci_script_parses() -> None:
    """`bash -n` reads the whole script without running it: a broken quote or line fails here."""
    result = subprocess.run(["bash", "-n", str(CI_RUN)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_ci_script_ends_with_the_readme_test_command() -> None:
    """CI runs exactly what the README tells a developer to run, after installing what it needs."""
    commands = [
        line.strip()
        for line in CI_RUN.read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert commands[-1] == "make test"
    assert "make test" in (ROOT / "README.md").read_text()

