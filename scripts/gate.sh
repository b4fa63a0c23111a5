#!/usr/bin/env bash
# The project's own regression gate, as CI runs it: flood quick.yaml, judge
# it against reports/baseline/results.json with quick.yaml's rules, print the
# report summary and the verdicts (also to a CI step summary when there is
# one), and exit with the gate's code: 0 pass, 1 regression, 2 bad input.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${GATE_OUT:-reports/gate}
rm -rf "$out"
bin/harness run --out "$out" scenarios/quick.yaml
rc=0
# FLOOD_HISTORY, where CI keeps one between runs, adds the history's
# change points to the verdicts (docs/gate.md).
bin/harness gate --current "$out/results.json" --rules scenarios/quick.yaml ${FLOOD_HISTORY:+--history "$FLOOD_HISTORY"} \
	--junit "$out/junit.xml" --markdown "$out/gate.md" --benchstat "$out/bench.txt" >"$out/gate.txt" || rc=$?
echo
[ -f "$out/gate.md" ] && cat "$out/summary.md" "$out/gate.md"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$out/gate.md" ]; then
	cat "$out/summary.md" "$out/gate.md" >>"$GITHUB_STEP_SUMMARY"
fi
echo
cat "$out/gate.txt" # the verdict table, ending with "gate: N passed, M failed"
exit "$rc"
