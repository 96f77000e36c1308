"""The README.md an edited model's folder carries: a Hugging Face model card (YAML
metadata, then what was edited, how, and what the checks found), written beside the
weights by `save_edited` so a folder that loads also explains itself."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

import mpn


@dataclass
class ModelCard:
    base_model: str                # a hub name or a local folder, as given
    base_is_local: bool            # a local folder is no hub id: left out of the metadata
    method: str
    hparams: dict
    labels: list[str]
    edit_log: list[dict]           # per request: text, target, success, steps, trained_languages
    languages: list[str] = field(default_factory=lambda: ["en"])  # trained on or checked
    checks: list[str] = field(default_factory=list)               # summary lines of the edit report
    auto_class: str = "AutoModelForSequenceClassification"        # what loads it
    pipeline_tag: str = "text-classification"

    def metadata(self) -> dict:
        meta = {"library_name": "transformers", "pipeline_tag": self.pipeline_tag,
                "tags": ["mpn-edit", "model-editing", self.method.replace("+", "-")],
                "language": list(dict.fromkeys(self.languages))}
        if not self.base_is_local:
            meta["base_model"] = self.base_model
        return meta

    def render(self, modeling_file: str) -> str:
        n_right = sum(e["success"] for e in self.edit_log)
        front = yaml.safe_dump(self.metadata(), sort_keys=False, allow_unicode=True)
        lines = ["---", front.rstrip(), "---", "",
                 f"# {Path(self.base_model).name if self.base_is_local else self.base_model}, "
                 f"edited with mpn-edit ({self.method})", "",
                 f"`{self.base_model}` with {len(self.edit_log)} edits ({n_right} succeeded) made by "
                 f"mpn-edit {mpn.__version__} with the method `{self.method}`: each edit "
                 "adds patch neurons to the last feed-forward layer (or changes its weights), merged into "
                 "an ordinary model." + (" Labels: " + ", ".join(f"`{label}`" for label in self.labels) + "."
                                         if self.labels else ""), "",
                 "```python", f"from transformers import {self.auto_class}, AutoTokenizer",
                 f'model = {self.auto_class}.from_pretrained("PATH", trust_remote_code=True)',
                 'tokenizer = AutoTokenizer.from_pretrained("PATH")', "```", "",
                 f"`trust_remote_code=True` loads `{modeling_file}` from this folder: the base "
                 "architecture with its last feed-forward layer widened by the patch neurons.", "",
                 "## Method and hyperparameters", "", "| name | value |", "|---|---|"]
        lines += [f"| {name} | `{value}` |" for name, value in self.hparams.items()]
        lines += ["", "## Edit log", "", "| # | input | target | success | steps | trained on |",
                  "|---|---|---|---|---|---|"]
        for i, edit in enumerate(self.edit_log, 1):
            text = edit["text"]
            shown = (" / ".join(text) if isinstance(text, (list, tuple)) else text).replace("|", "\\|")
            lines.append(f"| {i} | {shown} | {edit['target']} | {'yes' if edit['success'] else 'no'} | "
                         f"{edit['steps']} | {', '.join(['en', *edit['trained_languages']])} |")
        if self.checks:
            lines += ["", "## Checks", "", "Predictions before and after the edits (edit_report.md in this "
                      "folder has every text):", ""] + [f"- {line}" for line in self.checks]
        return "\n".join(lines) + "\n"
