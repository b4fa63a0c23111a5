#!/usr/bin/env bash
# The gate's fidelity experiment: run quick.yaml N times unchanged (every
# failing gate is a false alarm) and once with a planted regression (the
# streamed server keeps 4 MiB more per request: --retain-bytes 4MiB), each
# judged against the committed baseline with quick.yaml's rules.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-10}
out=reports/gate-check
rm -rf "$out"
mkdir -p "$out"
alarms=0
for i in $(seq 1 "$n"); do
	bin/harness run --out "$out/run-$i" scenarios/quick.yaml >"$out/run-$i.log" 2>&1
	rc=0
	bin/harness gate --current "$out/run-$i/results.json" --rules scenarios/quick.yaml >"$out/gate-$i.txt" 2>&1 || rc=$?
	case $rc in
	0) echo "unchanged run $i/$n: pass" ;;
	1) alarms=$((alarms + 1)); echo "unchanged run $i/$n: FALSE ALARM"; grep FAIL "$out/gate-$i.txt" || true ;;
	*) echo "unchanged run $i/$n: gate error $rc"; cat "$out/gate-$i.txt"; exit "$rc" ;;
	esac
done
sed 's/--impl, streamed, --port/--impl, streamed, --retain-bytes, 4MiB, --port/' scenarios/quick.yaml >"$out/quick-regressed.yaml"
grep -q -- '--retain-bytes' "$out/quick-regressed.yaml"
bin/harness run --out "$out/regressed" "$out/quick-regressed.yaml" >"$out/regressed.log" 2>&1
rc=0
bin/harness gate --current "$out/regressed/results.json" --rules scenarios/quick.yaml >"$out/gate-regressed.txt" 2>&1 || rc=$?
caught=missed
[ "$rc" -eq 1 ] && caught=caught
echo
grep FAIL "$out/gate-regressed.txt" || true
echo
echo "false alarms: $alarms/$n unchanged runs; planted regression (--retain-bytes 4MiB): $caught"
[ "$alarms" -eq 0 ] && [ "$caught" = caught ]
