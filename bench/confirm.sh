#!/usr/bin/env bash
# Confirmatory run (bench/confirm.py): per fine-tuning seed, a scratch clone of this
# commit with its own base model (finetune.seed), xfacts in NEW_LANGS too (held out of
# every edit: never in fine-tuning, which is English, nor in any pool or memory), and the
# frozen variants on every edit except those of facts a study used. From the repository
# root, in its virtual environment:
#
#   bench/confirm.sh OUT STUDIED_EDITS NEW_LANGS SEED... -- VARIANT...
#   bench/confirm.sh /tmp/confirm data/edits/xfacts/edits.jsonl ko,pl,tr,it 11 12 13 -- patcher mpn
#
# A clone already made is reused, and transfer_study --runs skips a variant already run.
set -euo pipefail
out=$(realpath -m "$1"); studied=$(realpath "$2"); new_langs=$3; shift 3
seeds=()
while [ "$1" != "--" ]; do seeds+=("$1"); shift; done
shift
repo=$(pwd)
for seed in "${seeds[@]}"; do
  clone=$out/seed$seed
  [ -d "$clone" ] || git clone -q "$repo" "$clone"
  cd "$clone"
  python - "$seed" "$new_langs" <<'PY'
import sys, yaml
params = yaml.safe_load(open("params.yaml"))
new = sys.argv[2].split(",")
params["finetune"]["seed"] = int(sys.argv[1])
params["data"]["xfacts"]["languages"] = [l for l in params["data"]["xfacts"]["languages"] if l not in new] + new
params["hparams"]["mpn"]["heldout_languages"] = new
yaml.safe_dump(params, open("params.yaml", "w"), sort_keys=False, allow_unicode=True)
PY
  export PYTHONPATH=$clone   # this clone's code, not the editable install's
  dvc repro -q features@xfacts
  python bench/transfer_study.py --task xfacts --runs runs --exclude-facts "$studied" --fold-seeds 0 \
      --variants "$@" > study.jsonl
  cd "$repo"
done
runs=(); for seed in "${seeds[@]}"; do runs+=("$out/seed$seed/runs"); done
echo "then: python bench/confirm.py --runs ${runs[*]} --pair A B ..."
