#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine, and nothing
# that is already there. Safe to run any number of times.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages: gcc for `go test -race` (cgo), make for the Makefile,
# python3 for the external (non-Go) target in the end-to-end tests, chromium
# to look at the HTML report as a person would (headless screenshot test), and
# the Python seed servers (Flask under gunicorn, Starlette under uvicorn)
# and the Ruby one (Rack under Puma); podman and runc for container targets
# (crun, podman's default runtime, refuses hybrid cgroup v1 layouts);
# docker.io for the same tests with docker (they start a dockerd of their
# own); iproute2 for the tests' network namespaces; nginx-light, a real
# server that gzips what it serves; heaptrack, heap: auto's evidence for
# native (C, C++, Rust) servers.
packages=(gcc libc6-dev make heaptrack python3 chromium python3-flask python3-simplejson gunicorn python3-starlette uvicorn ruby ruby-rack puma podman runc docker.io iproute2 nginx-light)
# Benchmarks name extra packages on the command line (bench-client: wrk hey time bc nginx curl).
packages+=("$@")

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Go itself is not from Debian (its golang is older than go.mod asks for).
if ! command -v go >/dev/null; then
	echo "install-deps: go is not on PATH; this project needs Go $(awk '/^go /{print $2}' go.mod) or newer" >&2
	exit 1
fi

# Modules (including staticcheck, a `tool` in go.mod) come from the module proxy.
go mod download

# The Node/Express seed's packages, exactly as its lock file pins them
# (Node itself is on these machines; see targets/node).
if command -v npm >/dev/null && [ ! -d targets/node/node_modules ]; then
	echo "install-deps: npm ci in targets/node"
	npm ci --prefix targets/node --no-audit --no-fund --loglevel=error
fi
echo "install-deps: ok ($(go version | awk '{print $3}'))"
