#!/bin/bash
# One prepared check of the memory cap and a flood's scale on a real host
# (used once on a lent cgroup v2 machine; see README, "The memory cap"):
# the host, harness doctor, scenarios/flood.yaml and scenarios/admission.yaml
# with the static bin/ binaries, then any flood-harness cgroup left behind.
# Bounded: each run under a timeout. Output in $OUT (default /tmp/devout).
set -u
OUT=${OUT:-/tmp/devout}
mkdir -p "$OUT"
exec > >(tee "$OUT/console.txt") 2>&1
echo "== host"; uname -r; nproc; free -g | head -2; id -u; cat /proc/self/cgroup; stat -fc %T /sys/fs/cgroup
cat /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
echo "== doctor"; bin/harness doctor; echo "doctor rc=$?"
echo "== flood"; time timeout 200 bin/harness run --out "$OUT/flood" ${FLOODARGS:-} scenarios/flood.yaml; echo "flood rc=$?"
echo "== admission"; time timeout 150 bin/harness run --out "$OUT/admission" ${ADMARGS:-} scenarios/admission.yaml; echo "admission rc=$?"
echo "== leftovers"; find /sys/fs/cgroup -name 'flood-harness*' -type d
rm -rf "$OUT"/*/profiles
