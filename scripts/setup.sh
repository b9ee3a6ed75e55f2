#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking rerankd needs.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache
  patchelf                                     # scripts/gpu-check.sh --pack: the bundle's RPATH
  libboost-dev libboost-system-dev             # Beast / Asio (header-only in 1.74)
  libssl-dev                                   # HTTPS to the Hugging Face hub (--model ORG/NAME)
  libsimdjson-dev                              # request / config JSON parsing
  libsentencepiece-dev sentencepiece           # tokenizer library, spm_train for test models
  libicu-dev                                   # BERT's tokenizer: Unicode categories and normalization
  libpcre2-dev                                 # byte-level BPE (Qwen): the pre-tokenizer's Unicode regex
  libdnnl-dev                                  # oneDNN matmuls
  libspdlog-dev libfmt-dev                     # logging
  libcli11-dev                                 # command line
  libgtest-dev libgmock-dev libbenchmark-dev   # tests and benchmarks
  python3 python3-numpy python3-sentencepiece  # test-model generator and float64 reference
  python3-regex                                # the byte-level BPE reference (tests/reference/bpe_tokenizer.py)
  nginx-light prometheus openssl python3-yaml  # operations tests: load balancer, scraping, TLS, manifests
  chromium                                     # the page at / in a headless browser (tests/web)
  clang-14 libclang-rt-14-dev                  # libFuzzer targets (tests/fuzz)
)
# Node.js for tests/web: Debian's unless one is already installed (NodeSource's nodejs bundles npm
# and conflicts with Debian's npm package).
command -v node >/dev/null || packages+=(nodejs)
command -v npm >/dev/null || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
echo "setup: all build and test packages present"

# The npm packages of the web tests (OpenAPI validator, browser driver, the Cohere and LangChain
# clients), pinned by tests/web/package-lock.json, into tests/web/node_modules. Skipped when the
# lock file is what was last installed; without the npm registry the web tests say "skipped".
web="$(cd "$(dirname "$0")/.." && pwd)/tests/web"
stamp=$web/node_modules/.rerankd-lock
if cmp -s "$web/package-lock.json" "$stamp"; then
  echo "setup: npm packages for tests/web present"
elif npm ci --prefix "$web" --no-audit --no-fund --loglevel=error >/dev/null; then
  cp "$web/package-lock.json" "$stamp"
  echo "setup: installed the npm packages for tests/web"
else
  echo "setup: could not install the npm packages for tests/web (npm registry unreachable?); the web tests will be skipped"
fi
