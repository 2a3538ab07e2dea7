"""Run the real console script as a user would, and read its JSON answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

EXE = str(Path(sys.executable).with_name("modelkiln"))


def run(*args: str | Path, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [EXE, *map(str, args)], capture_output=True, text=True, cwd=cwd, timeout=120
    )


def validate_json(root: Path) -> tuple[int, dict[str, Any]]:
    proc = run("validate", root, "--format", "json")
    assert proc.stderr == "", proc.stderr
    payload: dict[str, Any] = json.loads(proc.stdout)
    return proc.returncode, payload
