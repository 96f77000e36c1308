"""Stage translate@<task>: translations of the task's English rows into translate.languages
(data/translated/<task>/<lang>.jsonl), with a persistent cache that survives interruption.

    python stages/translate.py fever --data data   # reads data/raw/fever, writes data/translated/fever
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

from mpn.core.errors import UserError
from mpn.core.params import section
from mpn.data import is_completion
from mpn.pipeline.stage import check_listed, load_params, run_stage, stage_parser
from mpn.translate import TaskTranslator, TranslationCache, TranslationRunner, write_translations
from mpn.translate.settings import TranslateSettings

log = logging.getLogger("stages.translate")


def parse_args() -> argparse.Namespace:
    parser = stage_parser(__doc__)
    parser.add_argument("task", help="a task from params.yaml `tasks`")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--data", required=True, help="data root (<data>/raw/<task> in, <data>/translated/<task> out)")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    params = load_params(args.params)
    check_listed(params, "tasks", "task", args.task)
    if is_completion(args.task):   # its facts come with a prompt of their own in every language
        write_translations(Path(args.data) / "translated" / args.task, {},
                           {"task": args.task, "translated": 0, "note": "a completion task's facts carry their "
                            "own prompt and object in every language: nothing to translate"})
        log.info("%s: a completion task, nothing to translate", args.task)
        return
    settings = section(params, TranslateSettings).for_task(args.task)
    cache_path = Path(settings.cache_dir) / f"{args.task}.sqlite"
    with TranslationCache(cache_path) as cache:
        runner = TranslationRunner(cache, settings.retry_policy(), settings.batch_size,
                                   settings.rate_limit, settings.max_failures,
                                   settings.max_consecutive_failures)
        result = TaskTranslator(args.task, settings, runner, root=args.data).run()
    if runner.over_budget:
        details = " | ".join(run.describe_failures() for run in result.runs if run.failures)
        raise UserError(f"{runner.failed} texts stay untranslated, more than "
                        f"translate.max_failures={settings.max_failures} ({details[:400]}); "
                        f"finished translations are kept in {cache_path}: run again to retry")
    files = write_translations(Path(args.data) / "translated" / args.task, result.rows,
                               result.summary)
    log.info("wrote %s", ", ".join(str(f) for f in files))


if __name__ == "__main__":
    run_stage(main)
