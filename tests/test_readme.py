"""README.md's shell and Python blocks run as written, in order, against a fresh data dir.

Each ```bash/sh/shell/console block runs as one `bash -e` script, and each ```python block as
one script of this venv's Python, in a fresh working folder
holding a copy of `feature_repo/` (the data dir is its `./data`), with this checkout's code
and venv first on PATH and the session's Redis configured (commands that need a broker start
an embedded one). Setting
up the environment (`python3 -m venv`, `pip`) and the development tools the suite and CI run
themselves (`pytest`, `ruff`, `mypy`) and `docker` are stubbed out; every other command must
succeed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SHELL_LANGUAGES = {"bash", "sh", "shell", "console"}
SKIPPED_PROGRAMS = ("pip", "pytest", "ruff", "mypy", "docker")
BLOCK_TIMEOUT_SECONDS = 900

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)


def shell_blocks(markdown: str) -> list[str]:
    """The README's shell code blocks, in order (a `$ ` prompt is dropped)."""
    return [body for language, body in code_blocks(markdown) if language != "python"]


def code_blocks(markdown: str) -> list[tuple[str, str]]:
    """The README's shell and Python blocks as (`shell` or `python`, code), in order."""
    blocks = []
    for language, body in _FENCE.findall(markdown):
        if language.lower() in SHELL_LANGUAGES:
            lines = [line.removeprefix("$ ") for line in body.splitlines()]
            blocks.append(("shell", "\n".join(lines) + "\n"))
        elif language.lower() == "python":
            blocks.append(("python", body))
    return blocks


def runnable(block: str) -> str:
    """The block as a script: `.venv/bin/x` is this venv's `x`; set-up and dev tools stubbed."""
    stubs = "".join(
        f'{name}() {{ echo "README runner: skipped {name} $*" >&2; }}\n'
        for name in SKIPPED_PROGRAMS
    )
    venv = (
        'python3() { if [ "${1:-}" = "-m" ] && [ "${2:-}" = "venv" ]; then '
        'echo "README runner: skipped python3 $*" >&2; else command python3 "$@"; fi; }\n'
    )
    return "set -euo pipefail\n" + stubs + venv + re.sub(r"(?<![\w/])\.venv/bin/", "", block)


def test_the_readme_has_shell_blocks_to_run() -> None:
    blocks = shell_blocks(README.read_text())

    assert any("featurestore" in block for block in blocks)


def test_runnable_stubs_setup_and_keeps_commands() -> None:
    script = runnable("python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/x demo\n")

    assert script.endswith("python3 -m venv .venv && pip install -e . && x demo\n")
    completed = subprocess.run(
        ["bash", "-c", runnable("pytest -q && docker compose up -d && false\n")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert completed.returncode == 1
    assert "skipped pytest -q" in completed.stderr


@pytest.mark.integration
def test_readme_shell_blocks_run_in_order(tmp_path: Path, redis_url: str) -> None:
    workdir = tmp_path / "readme"
    shutil.copytree(
        ROOT / "feature_repo",
        workdir / "feature_repo",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    bin_dir = Path(sys.executable).parent
    env = {key: value for key, value in os.environ.items() if not key.startswith("FEATURESTORE_")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        FEATURESTORE_REDIS_URL=redis_url,
        COLUMNS="200",
    )

    for number, (language, block) in enumerate(code_blocks(README.read_text()), start=1):
        command = (
            [sys.executable, "-c", block]
            if language == "python"
            else ["bash", "-c", runnable(block)]
        )
        completed = subprocess.run(
            command,
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=BLOCK_TIMEOUT_SECONDS,
            check=False,
        )

        assert completed.returncode == 0, (
            f"README {language} block {number} failed (exit {completed.returncode}):\n{block}\n"
            f"stdout:\n{completed.stdout[-3000:]}\nstderr:\n{completed.stderr[-3000:]}"
        )


def test_python_blocks_are_run_too() -> None:
    blocks = code_blocks(README.read_text())

    assert any(language == "python" and "FeatureStore(" in body for language, body in blocks)
