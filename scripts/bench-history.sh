#!/usr/bin/env bash
# The change-point defaults measured (docs/gate.md): quick.yaml run
# FLOOD_RUNS times (default 30) on this machine, nothing changed between
# runs, each gated against the committed baseline with --history, so the
# history's change points can be counted (none expected: each would be a
# false alarm) and planted steps and creeps tried on real noise
# (internal/history's tests read a copy: internal/history/testdata).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${FLOOD_RUNS:-30}
dir=${FLOOD_HISTORY:-reports/history-bench}
out=reports/history-bench-run
rm -rf "$dir"
alarms=0
for i in $(seq 1 "$runs"); do
	rm -rf "$out"
	bin/harness run --out "$out" scenarios/quick.yaml >/dev/null 2>&1
	rc=0
	bin/harness gate --current "$out/results.json" --rules scenarios/quick.yaml --history "$dir" --commit "unchanged-$i" >"$out/gate.txt" || rc=$?
	if grep -q "history: no change point.*FAIL" "$out/gate.txt"; then
		alarms=$((alarms + 1))
		grep "history: no change point.*FAIL" "$out/gate.txt"
	fi
	echo "run $i/$runs: gate exit $rc"
done
bin/harness history --out "$dir/plots" "$dir"
echo "history: $runs unchanged runs in $dir/quick.jsonl; change points for the worse flagged at $alarms of them"
