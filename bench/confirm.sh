#!/usr/bin/env bash
# Confirmatory run (bench/confirm.py): per fine-tuning seed, a scratch clone of this
# commit with its own base model (finetune.seed) and the task's confirmatory settings
# (bench/confirm/<task>.yaml, merged into params.yaml: new held-out languages, unseen
# parts), and the frozen variants on every edit except those of facts a study used.
# From the repository root, in its virtual environment:
#
#   bench/confirm.sh OUT SETTINGS STUDIED_EDITS SEED... -- VARIANT...
#   bench/confirm.sh /tmp/confirm bench/confirm/xfacts.yaml data/edits/xfacts/edits.jsonl 11 12 13 -- patcher mpn
#
# STUDIED_EDITS `-`: no exclusion, for confirmatory parts that share no fact with the
# studied ones (XNLI's test and dev share no premise, FEVER's paper_test and paper_dev no
# page). The clones share one DVC cache (OUT/.dvc-cache), so the stages before fine-tuning
# (download, translate) run once and the other seeds restore them from the run cache. A
# clone already made is reused, and transfer_study --runs skips a variant already run.
set -euo pipefail
out=$(realpath -m "$1"); settings=$(realpath "$2"); shift 2
studied=(); [ "$1" = - ] || studied=(--exclude-facts "$(realpath "$1")"); shift
seeds=()
while [ "$1" != "--" ]; do seeds+=("$1"); shift; done
shift
repo=$(pwd)
for seed in "${seeds[@]}"; do
  clone=$out/seed$seed
  [ -d "$clone" ] || git clone -q "$repo" "$clone"
  task=$(python - "$clone" "$repo" "$settings" "$seed" <<'PY'
import os, sys, yaml

def merge(base, extra):
    """extra's keys over base's: mappings merge, anything else replaces."""
    for key, value in extra.items():
        base[key] = merge(base.get(key, {}), value) if isinstance(value, dict) else value
    return base

clone, repo, settings, seed = sys.argv[1:]
path = os.path.join(clone, "params.yaml")
params = merge(yaml.safe_load(open(path)), yaml.safe_load(open(settings)))
params["finetune"]["seed"] = int(seed)
params["data"]["mirror_dir"] = os.path.realpath(os.path.join(repo, params["data"]["mirror_dir"]))
yaml.safe_dump(params, open(path, "w"), sort_keys=False, allow_unicode=True)
print(params["tasks"][0])
PY
)
  cd "$clone"
  dvc cache dir --local "$out/.dvc-cache"
  export PYTHONPATH=$clone   # this clone's code, not the editable install's
  dvc repro -q "features@$task"
  python bench/transfer_study.py --task "$task" --runs runs "${studied[@]}" --fold-seeds 0 \
      --variants "$@" > study.jsonl
  cd "$repo"
done
runs=(); for seed in "${seeds[@]}"; do runs+=("$out/seed$seed/runs"); done
echo "then: python bench/confirm.py --runs ${runs[*]} --pair A B ..."
