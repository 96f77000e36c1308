"""params.yaml, read one way: every section through its typed dataclass, so no stage
reads a raw key and a typo or a bad value is a one-line error before any work.

    params = load_params()
    settings = section(params, EditSettings)  # params.yaml's `edit`, checked
    top = pipeline(params)                    # tasks, methods, seeds

The dataclasses' defaults equal params.yaml's (tests/test_params.py compares them), so
the library and the pipeline behave alike. Editing methods' sections (`hparams.<name>`)
and `presets` go through mpn.editing.resolver.resolve_method.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from mpn.core.errors import UserError
from mpn.core.knobs import knob, parse

T = TypeVar("T")

MAX_LENGTH = 64  # tokens per input: finetune.max_length and edit.max_length, and the library's default


@dataclass(frozen=True)
class Pipeline:
    """The top-level keys: what the dvc.yaml matrix fans out over."""
    tasks: list[str] = knob(["xfacts"])
    methods: list[str] = knob(["patcher", "patcher-tuned", "mpn", "mpn-tuned"])
    seeds: list[int] = knob([0, 1, 2], ge=0)   # every edit stage runs each of them

    def __post_init__(self):
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UserError(f"seeds = {self.seeds!r}; must be a non-empty list of distinct integers >= 0")


@dataclass(frozen=True)
class HeldOutSettings:
    """`edit.heldout`: the languages no term of an edit's loss may see, drawn by the run
    (mpn.experiment.heldout.HeldOut), the same for every method."""
    languages: list[str] = knob([])   # held out of every edit
    by_task: dict = knob({})          # per task, its own instead ({xnli: [ur]})
    fraction: float = knob(0.3, ge=0, le=1)  # the rotation: this share of each edit's other languages too

    def __post_init__(self):
        for task, langs in self.by_task.items():
            if not (isinstance(langs, list) and all(isinstance(lang, str) for lang in langs)):
                raise UserError(f"edit.heldout.by_task.{task} = {langs!r}; allowed: a list of language codes")

    def fixed(self, task: str | None) -> list[str]:
        """The task's languages held out of every edit."""
        return sorted(self.by_task.get(task, self.languages))


@dataclass(frozen=True)
class EditSettings:
    """The `edit` section (features@<task> reads max_length, seed and num_threads)."""
    SECTION: ClassVar[str] = "edit"  # its key in params.yaml
    engine: str = knob("cached", choices=("cached", "full"))
    eval_every: int = knob(5, ge=1)        # locality and retention every this many edits
    max_length: int = knob(MAX_LENGTH, ge=1)  # tokens per input, as in finetune
    max_edits: int | None = knob(None, ge=1)
    n_bootstrap: int = knob(1000, ge=1)
    device: str = knob("cpu")
    num_threads: int | None = knob(None, ge=0)  # the feature pass; null: torch's default
    processes: int = knob(0, ge=0)          # (seed, stream) jobs side by side; 0: one per CPU core
    seed: int = knob(0, ge=0)               # dropout views and bootstrap resampling
    heldout: HeldOutSettings = field(default_factory=HeldOutSettings)

    @classmethod
    def from_params(cls, values: Any) -> "EditSettings":
        """The section, with `heldout` read by its own dataclass."""
        values = dict(values or {}) if isinstance(values, dict) else values
        if not isinstance(values, dict):
            raise UserError(f"{cls.SECTION}: expected a mapping of keys to values, got {values!r}")
        heldout = parse(HeldOutSettings, values.pop("heldout", None), f"{cls.SECTION}.heldout")
        return dataclasses.replace(parse(cls, values, cls.SECTION), heldout=heldout)


TOP_LEVEL = ("tasks", "methods", "seeds")

def section(params: dict[str, Any], cls: type[T]) -> T:
    """params.yaml's section `cls.SECTION` as its typed, checked `cls` (each layer owns
    its section's dataclass; this layer names none of them)."""
    reader = getattr(cls, "from_params", None)  # sections with checks beyond the fields' own
    return reader(params.get(cls.SECTION)) if reader else parse(cls, params.get(cls.SECTION), cls.SECTION)


def pipeline(params: dict[str, Any]) -> Pipeline:
    """The top-level `tasks`, `methods` and `seeds`, checked."""
    return Pipeline(**{key: top_level(params, key) for key in TOP_LEVEL if key in params})


def top_level(params: dict[str, Any], key: str):
    """One top-level key, checked (a stage that reads only `methods` does not fail on `seeds`)."""
    if key not in params:
        return getattr(Pipeline(), key)
    try:  # parse's messages name `where.key`; these keys have no section
        return getattr(parse(Pipeline, {key: params[key]}, "top"), key)
    except UserError as err:
        raise UserError(str(err).replace("top.", "", 1)) from None
