#!/usr/bin/env bash
# Confirmatory run (bench/confirm.py): per fine-tuning seed, a scratch clone of this
# commit, its own base model (finetune.seed), and the frozen variants on every edit except
# those of facts a study used. Run from the repository root, in its virtual environment:
#
#   bench/confirm.sh OUT STUDIED_EDITS SEED... -- VARIANT...
#   bench/confirm.sh /tmp/confirm data/edits/xfacts/edits.jsonl 11 12 13 -- patcher patcher-tuned mpn mpn-tuned
#
# A clone already done is kept (transfer_study --runs resumes a variant already run).
set -euo pipefail
out=$(realpath -m "$1"); studied=$(realpath "$2"); shift 2
seeds=()
while [ "$1" != "--" ]; do seeds+=("$1"); shift; done
shift
repo=$(pwd)
for seed in "${seeds[@]}"; do
  clone=$out/seed$seed
  [ -d "$clone" ] || git clone -q "$repo" "$clone"
  cd "$clone"
  python -c "import yaml, sys; p = yaml.safe_load(open('params.yaml')); p['finetune']['seed'] = int(sys.argv[1]); \
yaml.safe_dump(p, open('params.yaml', 'w'), sort_keys=False)" "$seed"
  export PYTHONPATH=$clone   # this clone's code, not the editable install's
  dvc repro -q features@xfacts
  python bench/transfer_study.py --task xfacts --runs runs --exclude-facts "$studied" --fold-seeds 0 \
      --variants "$@" > study.jsonl
  cd "$repo"
done
runs=(); for seed in "${seeds[@]}"; do runs+=("$out/seed$seed/runs"); done
echo "then: python bench/confirm.py --runs ${runs[*]} --pairs A:B ..."
