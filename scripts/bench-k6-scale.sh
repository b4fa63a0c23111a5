#!/usr/bin/env bash
# scenarios/k6-scale.yaml with one k6 and with three local k6 instances,
# side by side: the target's peak (what the harness measures) and the
# latency (for three, merged from the instances' histograms).
set -euo pipefail
cd "$(dirname "$0")/.."
out=reports/k6-scale-$(date +%Y%m%d-%H%M%S)
for n in 1 3; do
	# Exit 1 is a result here: the script's memory threshold failed.
	rc=0
	bin/harness run --out "$out/k6x$n" --k6-instances $n scenarios/k6-scale.yaml > "$out-k6x$n.log" 2>&1 || rc=$?
	if [ $rc -ne 0 ] && [ $rc -ne 1 ]; then cat "$out-k6x$n.log"; exit $rc; fi
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
runs = {n: json.load(open(f"{out}/k6x{n}/results.json"))["runs"] for n in (1, 3)}
print(f"{'target':>10} {'c':>4} | {'k6 × 1: peak MiB':>17} {'req':>6} {'p50 ms':>8} {'p99 ms':>8} {'exit':>4} | {'k6 × 3: peak MiB':>17} {'req':>6} {'p50 ms':>8} {'p99 ms':>8} {'exit':>4} {'resume spread ms':>17}")
for a in runs[1]:
    b = next(r for r in runs[3] if r["target"] == a["target"] and r["concurrency"] == a["concurrency"])
    def cells(r):
        oom = " OOM" if r["oom_killed"] else ""
        return f"{r['peak_rss_bytes']/2**20:>13.1f}{oom:<4} {r['requests']:>6} {r['latency_ms']['p50']:>8.1f} {r['latency_ms']['p99']:>8.1f} {r.get('driver_exit', 0):>4}"
    print(f"{a['target']:>10} {a['concurrency']:>4} | {cells(a)} | {cells(b)} {b.get('k6_resume_spread_ms', 0):>17.1f}")
print(f"\npeaks: {runs[1][0]['peak_rss_source']} (the target, measured by the harness); exit: k6's (99: a threshold failed; with 3, judged on the merged data); results in {out}")
PY
