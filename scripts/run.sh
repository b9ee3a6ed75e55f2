#!/usr/bin/env bash
# Installs what is missing, builds rerankd and starts the server on 127.0.0.1:8080.
# The model: $RERANKD_MODEL, else a local Hugging Face cache copy of BAAI/bge-reranker-v2-m3,
# else a small random-weight demo model built here (its scores mean nothing).
# Extra arguments go to `rerankd serve` (e.g. --port 9000 --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --parallel 2 --target rerankd

model=${RERANKD_MODEL:-}
if [ -z "$model" ]; then
  hub=${HUGGINGFACE_HUB_CACHE:-${HF_HOME:-$HOME/.cache/huggingface}/hub}
  for snapshot in "$hub"/models--BAAI--bge-reranker-v2-m3/snapshots/*/; do
    [ -f "$snapshot/config.json" ] && model=${snapshot%/} && break
  done
fi
if [ -z "$model" ]; then
  demo=build/demo-model
  if [ ! -f "$demo/models/small/config.json" ]; then
    /usr/bin/python3 tests/reference/make_test_models.py "$demo" >/dev/null
  fi
  model=$demo/models/small
  echo "rerankd: no RERANKD_MODEL and no cached BAAI/bge-reranker-v2-m3: serving a RANDOM-WEIGHT demo model"
  echo "rerankd: ($model) — its scores are random and mean nothing."
fi
exec build/src/rerankd serve --model "$model" "$@"
