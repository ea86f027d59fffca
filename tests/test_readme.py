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


def test_readme_commands_are_marked() -> None:
    text = (ROOT / "README.md").read_text()
    assert "<!-- main-command -->" in text and "<!-- test-command -->" in text
    assert "motiongen convert" in text.split("<!-- main-command -->")[1].split("```")[1]
