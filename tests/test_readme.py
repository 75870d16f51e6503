"""The README documents every setting and the commands that exist."""

from __future__ import annotations

from core.config import REPO_ROOT, Settings


def test_readme_lists_every_setting():
    readme = (REPO_ROOT / "README.md").read_text()
    for name, field in Settings.model_fields.items():
        env = field.validation_alias.choices[0] if field.validation_alias else f"MUSECHAT_{name.upper()}"
        assert f"`{env}`" in readme, f"{env} missing from the README's settings table"


def test_ci_runs_the_readme_test_command():
    readme = (REPO_ROOT / "README.md").read_text()
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "exec make test" in ci
