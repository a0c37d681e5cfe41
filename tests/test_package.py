"""What ``pip install .`` gives: the import package ``sqlite2ddb``, the ``sqlite2ddb`` command, nothing else.

The project is installed into a fresh virtual environment, offline and without
dependencies (``--system-site-packages`` lends it the ones this interpreter
has). The sources are copied first, because setuptools builds in the source
tree and would leave ``build/`` and an egg-info folder in the checkout.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENGINE = ROOT / "engine"
BUILD_FILES = ("setup.cfg", "pyproject.toml", "README.md")


def run(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def source_files() -> set[str]:
    """Every file under engine/ as the installed package holds it: ``sqlite2ddb/spec/schema.json``."""
    return {
        "sqlite2ddb/" + p.relative_to(ENGINE).as_posix()
        for p in ENGINE.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    }


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with the project installed by pip; returns its site-packages."""
    if sys.version_info < (3, 12):
        pytest.importorskip("wheel", reason="setuptools before 70.1 needs the wheel package to build (test extras)")
    base = tmp_path_factory.mktemp("package")
    source, venv = base / "source", base / "venv"
    shutil.copytree(ENGINE, source / "engine", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in BUILD_FILES:
        shutil.copy2(ROOT / name, source / name)
    made = run(sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv, cwd=base)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    pip = (sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check")
    done = run(
        *pip, "install", "--no-deps", "--no-build-isolation", "--no-index", "--no-compile", "-q", ".", cwd=source
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=base)
    return Path(found.stdout.strip())


def record(site: Path) -> set[str]:
    """The files pip installed, from the distribution's RECORD (paths relative to site-packages)."""
    (dist,) = site.glob("sqlite_to_dynamodb-*.dist-info")
    lines = (dist / "RECORD").read_text(encoding="utf-8").splitlines()
    return {line.rsplit(",", 2)[0] for line in lines if line}


def test_import_sqlite2ddb_comes_from_the_installed_package(installed: Path, tmp_path: Path) -> None:
    python = installed.parents[2] / "bin" / "python"
    shown = run(python, "-c", "import sqlite2ddb, sqlite2ddb.cli; print(sqlite2ddb.__file__)", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert Path(shown.stdout.strip()).resolve() == (installed / "sqlite2ddb" / "__init__.py").resolve()


def test_the_console_script_runs(installed: Path, tmp_path: Path) -> None:
    script = installed.parents[2] / "bin" / "sqlite2ddb"
    assert script.exists(), "pip installed no sqlite2ddb console script"
    shown = run(script, "--help", cwd=tmp_path)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert "Usage: sqlite2ddb" in shown.stdout


def test_nothing_is_installed_as_top_level_engine_or_cli(installed: Path) -> None:
    top = {p.name for p in installed.iterdir()}
    assert not top & {"engine", "engine.py", "cli", "cli.py"}, sorted(top)
    tops = {path.split("/")[0] for path in record(installed) if not path.startswith("..")}
    assert tops == {"sqlite2ddb", next(iter(installed.glob("sqlite_to_dynamodb-*.dist-info"))).name}, sorted(tops)


def test_every_module_and_package_data_file_is_installed(installed: Path) -> None:
    """Each file under engine/ (modules, spec/schema.json, validate/templates) is in the installed package."""
    installed_files = {p for p in record(installed) if p.startswith("sqlite2ddb/") and "__pycache__" not in p}
    missing = sorted(source_files() - installed_files)
    assert not missing, (
        f"files under engine/ that pip install . leaves out (setup.cfg packages/package_data): {missing}"
    )
    assert {"sqlite2ddb/spec/schema.json", "sqlite2ddb/validate/templates/report.html.j2"} <= installed_files


def test_setup_cfg_lists_every_package() -> None:
    """setup.cfg's packages are exactly the folders under engine/ holding __init__.py (a new stage folder is listed)."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    listed = set(config["options"]["packages"].split())
    assert config["options"]["package_dir"].split() == ["sqlite2ddb", "=", "engine"]
    folders = {".".join(("sqlite2ddb", *p.parent.relative_to(ENGINE).parts)) for p in ENGINE.rglob("__init__.py")}
    assert listed == folders, (
        f"in engine/ but not in setup.cfg: {sorted(folders - listed)}; in setup.cfg only: {sorted(listed - folders)}"
    )
