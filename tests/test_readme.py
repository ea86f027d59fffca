"""The README's measured tables are the ones the benchmark JSON files give."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_tables_match_benchmark_results() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_readme.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_readme_commands_are_marked_and_main_job_generates() -> None:
    text = (ROOT / "README.md").read_text()
    assert "<!-- main-command -->" in text and "<!-- test-command -->" in text
    main_command = text.split("<!-- main-command -->")[1].split("```")[1]
    assert "motiongen generate" in main_command and "pip install" in main_command
