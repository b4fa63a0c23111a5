#!/usr/bin/env bash
# Builds bin/k6: k6 (pinned in xk6/go.mod) with the k6/x/flood extension,
# from the plain main that `xk6 build` would generate (xk6/cmd/k6). With
# the xk6 CLI, the same binary is:
#   xk6 build v1.8.1 --with github.com/floodharness/harness/xk6=./xk6
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin
cd xk6
CGO_ENABLED=0 go build -trimpath -o ../bin/k6 ./cmd/k6
../bin/k6 version
