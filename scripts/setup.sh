#!/usr/bin/env bash
# Installs every Debian package that building, testing and benchmarking rerankd needs.
# Idempotent: packages already present are left alone. Needs root (or sudo).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ccache
  libboost-dev libboost-system-dev             # Beast / Asio (header-only in 1.74)
  libsimdjson-dev                              # request / config JSON parsing
  libsentencepiece-dev sentencepiece           # tokenizer library, spm_train for test models
  libicu-dev                                   # BERT's tokenizer: Unicode categories and normalization
  libdnnl-dev                                  # oneDNN matmuls
  libspdlog-dev libfmt-dev                     # logging
  libcli11-dev                                 # command line
  libgtest-dev libgmock-dev libbenchmark-dev   # tests and benchmarks
  python3 python3-numpy python3-sentencepiece  # test-model generator and float64 reference
  nginx-light prometheus openssl python3-yaml  # operations tests: load balancer, scraping, TLS, manifests
)

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
