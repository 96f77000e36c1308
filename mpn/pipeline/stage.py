"""What every stage script shares: params loading, logging, one-line errors."""
from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any, Callable

import yaml

from mpn.core import secrets
from mpn.pipeline.cpu import pin_arithmetic
from mpn.core.errors import UserError
from mpn.core.params import top_level

log = logging.getLogger("mpn")


def load_params(path: str | Path = "params.yaml") -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise UserError(f"missing {path}: run stages from the project root")
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def stage_parser(doc: str) -> argparse.ArgumentParser:
    """A stage script's command line: its first docstring line as the description."""
    return argparse.ArgumentParser(description=doc.strip().splitlines()[0])


def stage_args(doc: str, items: tuple[str, ...] = (), paths: dict[str, str] | None = None
               ) -> tuple[argparse.Namespace, dict[str, Any]]:
    """A stage's command line and params.yaml: its matrix items (`task`, `method`) as
    positional arguments, each checked against params.yaml's list of them (`tasks`,
    `methods`), then one required path option per `paths` entry (name -> help)."""
    parser = stage_parser(doc)
    for item in items:
        parser.add_argument(item, help=f"a {item} from params.yaml `{item}s`")
    for name, help_ in (paths or {}).items():
        parser.add_argument(f"--{name}", type=Path, required=True, help=help_)
    args = parser.parse_args()
    params = load_params()
    for item in items:
        check_listed(params, f"{item}s", item, getattr(args, item))
    return args, params


def check_listed(params: dict[str, Any], key: str, what: str, given: str) -> str:
    """A matrix stage's item (`given`) must be listed in params.yaml's `key`."""
    allowed = top_level(params, key)
    if given not in allowed:
        raise UserError(f"{what} {given!r} is not in params.yaml {key}; allowed: {', '.join(allowed)}")
    return given


def set_threads(n: int) -> None:
    """torch CPU threads (a checked params value); 0 leaves torch's default."""
    if n:
        import torch  # the data stages never need it
        torch.set_num_threads(n)


def setup_logging(level: int = logging.INFO) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    secrets.install_log_scrubbing()


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage's main() with the arithmetic pinned (mpn.pipeline.cpu); bad input becomes one
    line on stderr and exit code 2. Both that line and the traceback of any other
    failure are scrubbed of credentials."""
    pin_arithmetic()
    setup_logging()
    try:
        main()
    except UserError as err:
        print(f"error: {secrets.scrub(err)}", file=sys.stderr)
        sys.exit(2)
    except Exception:  # noqa: BLE001 - logged (scrubbed) with its traceback, then exit 1
        log.exception("stage failed")
        sys.exit(1)
