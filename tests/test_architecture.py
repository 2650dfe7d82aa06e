"""The layers hold: ``lint-imports`` passes on the tree and fails on a forbidden import.

The contract (``[tool.importlinter]`` in pyproject.toml): healthmap (CLI) > service >
pipelines > store > geo, a pure domain, and no HTTP below the service. ``make lint`` runs
it; these tests run it too, and check that it really catches an upward import, on a copy
of the packages (the tree is never edited).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("healthmap", "service", "pipelines", "store", "geo")
LINT_IMPORTS = str(Path(sys.executable).with_name("lint-imports"))
LAYERS = "Imports go one way: healthmap (CLI) > service > pipelines > store > geo"


def _lint_imports(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LINT_IMPORTS, "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _copy_tree(dest: Path) -> None:
    """The five packages (their .py files, not service/static) and pyproject.toml."""
    for package in PACKAGES:
        for source in (ROOT / package).rglob("*.py"):
            relative = source.relative_to(ROOT)
            if relative.parts[:2] == ("service", "static") or "__pycache__" in relative.parts:
                continue
            target = dest / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    shutil.copyfile(ROOT / "pyproject.toml", dest / "pyproject.toml")


def _env_on(path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(path)
    return env


def test_the_layers_contract_is_in_pyproject_and_import_linter_in_dev_extras() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = {c["id"]: c for c in pyproject["tool"]["importlinter"]["contracts"]}
    assert contracts["layers"]["type"] == "layers"
    assert contracts["layers"]["layers"] == list(PACKAGES)
    assert contracts["layers"]["name"] == LAYERS
    dev = pyproject["project"]["optional-dependencies"]["dev"]
    assert any(re.match(r"import-linter\b", requirement) for requirement in dev)
    assert any(re.match(r"networkx\b", requirement) for requirement in dev)


def test_make_lint_runs_lint_imports() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert lint is not None, "no lint target in the Makefile"
    assert "lint-imports" in lint.group(1)


def test_lint_imports_passes_on_the_tree() -> None:
    done = _lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"{LAYERS} KEPT" in done.stdout
    assert "BROKEN" not in done.stdout


def test_lint_imports_fails_on_an_upward_import(tmp_path: Path) -> None:
    _copy_tree(tmp_path)
    env = _env_on(tmp_path)
    # The copy is what is analysed: on PYTHONPATH, ahead of the venv's editable finder.
    where = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import {', '.join(PACKAGES)}\nfor p in ({', '.join(PACKAGES)}): print(p.__file__)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    found = [Path(line) for line in where.stdout.split()]
    assert found == [tmp_path / package / "__init__.py" for package in PACKAGES]

    clean = _lint_imports(tmp_path, env)
    assert clean.returncode == 0, clean.stdout + clean.stderr  # the copy is complete

    (tmp_path / "geo" / "_forbidden.py").write_text('"""An upward import."""\n\nimport pipelines\n')
    broken = _lint_imports(tmp_path, env)
    assert broken.returncode != 0, broken.stdout
    assert f"{LAYERS} BROKEN" in broken.stdout
    assert "geo._forbidden -> pipelines" in broken.stdout
