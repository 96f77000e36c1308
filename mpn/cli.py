"""What every stage script shares: params loading, logging, one-line errors."""
from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from mpn.errors import UserError

log = logging.getLogger("mpn")


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise UserError(f"missing {path}: run stages from the project root")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main(); bad input becomes one line on stderr and exit code 2."""
    setup_logging()
    try:
        main()
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
