#!/usr/bin/env bash
# Installs what is missing, builds rerankd and starts the server on 127.0.0.1:8080.
# The model: $RERANKD_MODEL (a directory or a hub id) if set; else BAAI/bge-reranker-v2-m3 from the
# Hugging Face cache, or downloaded into it when the hub ($HF_ENDPOINT) is reachable; only when it
# is not, a small random-weight demo model built here (its scores mean nothing).
# Extra arguments go to `rerankd serve` (e.g. --port 9000 --host 0.0.0.0).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --parallel 2 --target rerankd
rerankd=build/src/rerankd
repo=BAAI/bge-reranker-v2-m3

# Can a TCP connection to the hub (or to the proxy rerankd would use for it) be opened within a few
# seconds? NO_PROXY is not looked at here.
hub_reachable() {
  local endpoint=${HF_ENDPOINT:-https://huggingface.co} port=443
  local proxy=${https_proxy:-${HTTPS_PROXY:-}}
  case $endpoint in http://*) port=80 proxy=${http_proxy:-${HTTP_PROXY:-}} ;; esac
  if [ -n "$proxy" ]; then
    endpoint=$proxy port=80
  fi
  local authority=${endpoint#*://}
  authority=${authority%%/*}
  authority=${authority##*@}
  local host=${authority%:*}
  [ "$host" != "$authority" ] && port=${authority##*:}
  timeout 5 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

model=${RERANKD_MODEL:-}
if [ -z "$model" ]; then
  if snapshot=$(HF_HUB_OFFLINE=1 "$rerankd" download "$repo" 2>/dev/null); then
    model=$snapshot
    echo "rerankd: serving $repo from the Hugging Face cache ($model)"
  elif [ -z "${HF_HUB_OFFLINE:-}" ] && hub_reachable; then
    echo "rerankd: downloading $repo from ${HF_ENDPOINT:-https://huggingface.co} (about 2.3 GB, once)"
    model=$("$rerankd" download "$repo")
  else
    demo=build/demo-model
    if [ ! -f "$demo/models/small/config.json" ]; then
      /usr/bin/python3 tests/reference/make_test_models.py "$demo" >/dev/null
    fi
    model=$demo/models/small
    echo "rerankd: $repo is not in the Hugging Face cache and ${HF_ENDPOINT:-https://huggingface.co} is not reachable"
    echo "rerankd: (or HF_HUB_OFFLINE is set): serving a RANDOM-WEIGHT demo model ($model)."
    echo "rerankd: its scores are random and mean nothing. Set RERANKD_MODEL, or HF_ENDPOINT to a mirror."
  fi
fi
exec "$rerankd" serve --model "$model" "$@"
