"""The README stays true: it names every setting and the two set-up commands that exist."""

from pathlib import Path

from core.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]


def test_readme_lists_every_setting():
    import importlib

    from api import FEATURES

    for name in FEATURES:
        importlib.import_module(name)
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in SETTINGS if f"`{name}`" not in readme]
    assert not missing, f"README lacks settings: {missing} (see `hcc settings --markdown`)"


def test_the_two_commands_exist():
    readme = (ROOT / "README.md").read_text()
    for script in ("scripts/serve.sh", "scripts/test.sh"):
        assert f"./{script}" in readme and (ROOT / script).exists()
    assert "scripts/test.sh" in (ROOT / ".ci/run").read_text()
