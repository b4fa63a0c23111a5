#!/usr/bin/env bash
# What a request body costs the client: GET against POST with a 1 KiB body
# (c=16, ~8.6 MB streamed responses, two interleaved rounds), and generated
# uploads to a server that discards them (c=1 and 4, 256 MiB bodies). One
# lean reference server on loopback, stopped at the end; bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${PORT:-18431}
bin/harness-serve --impl streamed --port "$port" >/dev/null &
srv=$!
trap 'kill "$srv" 2>/dev/null; rm -f "$body"' EXIT
body=$(mktemp)
head -c 1024 /dev/zero | tr '\0' 'q' >"$body"
for _ in $(seq 50); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
show() { python3 -c 'import json,sys; r=json.load(sys.stdin); print("%-28s %5d ok %3d failed %8.0f MB/s %6.3f CPU-s/GB  client peak %d MiB" % (sys.argv[1], r["ok"], r["failed"], r["mb_per_s"] if r["bytes_received"] else 0, r["client_cpu_s_per_gb"], r["client_peak_rss_bytes"] >> 20))' "$1"; }
url="http://127.0.0.1:$port/export?rows=4000&width=2000"
for round in 1 2; do
	bin/harness load -c 16 -d 4s --json "$url" | show "GET  c=16 round $round"
	bin/harness load -c 16 -d 4s -X POST --body-file "$body" --json "$url" | show "POST c=16 (1 KiB) round $round"
done
for c in 1 4; do
	out=$(bin/harness load -c "$c" -d 4s -X PUT --body-size 256MiB --json "http://127.0.0.1:$port/discard")
	echo "$out" | python3 -c 'import json,sys; r=json.load(sys.stdin); gb=r["ok"]*256*2**20/1e9; print("upload c=%s 256MiB bodies %5d ok %6.2f GB/s %6.3f CPU-s/GB  client peak %d MiB" % (sys.argv[1], r["ok"], gb/r["duration_s"], r["client_cpu_s"]/gb if gb else 0, r["client_peak_rss_bytes"] >> 20))' "$c"
done
