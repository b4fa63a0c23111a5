#!/bin/bash
# One prepared check of the memory cap and a flood's scale on a real host
# (used on a lent cgroup v2 machine; see docs/hosts.md), with
# the static bin/ binaries. Bounded: each run under a timeout. Output in
# $OUT (default /tmp/devout).
#   scripts/device-check.sh        the host, harness doctor, scenarios/flood.yaml
#                                  and scenarios/admission.yaml, then any
#                                  flood-harness cgroup left behind
#   scripts/device-check.sh attach a server started outside the harness, in a
#                                  cgroup of this script's, attached by cgroup
#                                  and by pid at 8 then 1 clients: is each
#                                  level's peak reset (memory.peak, clear_refs)?
set -u
OUT=${OUT:-/tmp/devout}
mkdir -p "$OUT"
exec > >(tee -a "$OUT/console.txt") 2>&1
echo "== host"; uname -r; nproc; id -u; cat /proc/self/cgroup; stat -fc %T /sys/fs/cgroup

attach() {
	local own cg port pid
	own=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
	cg=$(dirname "$own")/attach-check-$$
	mkdir "$cg" || return
	port=18477
	GOMEMLIMIT=16MiB bin/harness-serve --impl buffered --port $port > "$OUT/attach-server.log" 2>&1 &
	pid=$!
	echo $pid > "$cg/cgroup.procs"
	sleep 0.5
	for by in "cgroup: $cg" "pid: $pid"; do
		name=$(echo "$by" | cut -d: -f1)
		cat > "$OUT/attach-$name.yaml" <<YAML
name: attach-$name
levels: [8, 1]
duration: 2s
grace: 20s
request: {path: "/export?rows=4000&width=2000", validate: json}
client: {read_rate: 4MiB, recv_buffer: 64KiB}
memory: {limit: 0, heap_profile: "off"}
targets:
  - name: app
    attach: {$by, port: $port}
YAML
		timeout 60 bin/harness run --out "$OUT/attach-$name" "$OUT/attach-$name.yaml"
		grep -o '"concurrency": [0-9]*\|"peak_rss_bytes": [0-9]*\|"peak_rss_source": "[a-z_]*"\|"peak_reset": "[a-z_.]*"' "$OUT/attach-$name/results.json" | paste - - - - 
	done
	echo "server alive after: $(kill -0 $pid && echo yes)"
	kill $pid; wait $pid
	rmdir "$cg"
}

if [ "${1:-all}" = attach ]; then
	attach
	exit
fi
cat /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null
echo "== doctor"; bin/harness doctor; echo "doctor rc=$?"
echo "== flood"; time timeout 200 bin/harness run --out "$OUT/flood" ${FLOODARGS:-} scenarios/flood.yaml; echo "flood rc=$?"
echo "== admission"; time timeout 150 bin/harness run --out "$OUT/admission" ${ADMARGS:-} scenarios/admission.yaml; echo "admission rc=$?"
echo "== leftovers"; find /sys/fs/cgroup -name 'flood-harness*' -type d
rm -rf "$OUT"/*/profiles
