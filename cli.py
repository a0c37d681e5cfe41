#!/usr/bin/env python3
"""The command line from a checkout: ``python cli.py ...``; installed, the same is the ``sqlite2ddb`` command.

The library lives in ``engine/`` and is installed as the import package
``sqlite2ddb``. Run from a checkout, this file binds that name to the
``engine/`` beside it (installed or not), so the code you run is the code you see.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _bind_package() -> None:
    if "sqlite2ddb" in sys.modules:
        return
    root = Path(__file__).resolve().parent / "engine"
    spec = importlib.util.spec_from_file_location(
        "sqlite2ddb", root / "__init__.py", submodule_search_locations=[str(root)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["sqlite2ddb"] = module
    spec.loader.exec_module(module)


_bind_package()

from sqlite2ddb.cli import cli, main  # noqa: E402

__all__ = ["cli", "main"]

if __name__ == "__main__":
    main()
