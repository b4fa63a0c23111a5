#!/usr/bin/env bash
# 30,000 slow readers to one target address, on a host where a process may
# open 20,000 files: the client as two processes of 15,000 (from 127.0.0.1
# and 127.0.0.2, each with the whole ephemeral port range), the streamed
# reference server as two processes sharing the port (SO_REUSEPORT, as a
# pre-fork server does). Prints what each side held per connection and
# every failure by kind. Loopback only; bounded by -d and the grace.
# SERVER="--admission held --budget 256MiB" runs the held-admission server;
# OUT names the report directory.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${CONNECTIONS:-30000}
procs=${PROCS:-2}
secs=${SECS:-30}
out=${OUT:-reports/bench-scale-30000}
server_args=${SERVER:-}
rm -rf "$out"
mkdir -p "$out"

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
servers=()
for i in $(seq "$procs"); do
	# shellcheck disable=SC2086 # the server's flags, split
	bin/harness-serve --impl streamed $server_args --reuseport --port "$port" >"$out/server-$i.log" 2>&1 &
	pids+=($!)
	servers+=($!)
done
for i in $(seq "$procs"); do
	for _ in $(seq 50); do grep -q listening "$out/server-$i.log" && break; sleep 0.1; done
done
idle=0
for s in "${servers[@]}"; do idle=$((idle + $(awk '/^VmRSS/{print $2}' "/proc/$s/status"))); done

# TcpExt counters: the accept queue, TCP memory pressure, SYNs sent again.
netstat() { awk 'NR==1{for(i=1;i<=NF;i++) h[i]=$i} NR==2{for(i=1;i<=NF;i++) if (h[i] ~ /^(ListenOverflows|TCPMemoryPressures|TCPSynRetrans)$/) printf "%s=%s ", h[i], $i}' <(grep ^TcpExt /proc/net/netstat); }
before=$(netstat)
# ~22 KB responses: what a connection's socket buffers hold stays below
# net.ipv4.tcp_mem's pressure at 30,000 (with ~0.1 MB ones the kernel went
# into memory pressure and 20% of the dials timed out).
url="http://127.0.0.1:$port/export?rows=${ROWS:-20}&width=1000"
clients=()
for i in $(seq 0 $((procs - 1))); do
	/usr/bin/time -f "TIME %e %U %S %M" bin/harness-load -c $((n / procs)) -d "${secs}s" --grace 2s \
		--read-rate 4KiB --recv-buffer 16KiB --source-base "$i" --json "$url" >"$out/client-$i.json" 2>"$out/client-$i.time" &
	clients+=($!)
done
for c in "${clients[@]}"; do wait "$c" || true; done
peak=0
for s in "${servers[@]}"; do peak=$((peak + $(awk '/^VmHWM/{print $2}' "/proc/$s/status"))); done
echo "netstat before: $before"
echo "netstat after:  $(netstat)"

python3 - "$out" "$procs" "$n" "$idle" "$peak" <<'EOF'
import json, sys
out, procs, n, idle, peak = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
connected, errors, ok, cut, client_peak, client_per = 0, {}, 0, 0, 0.0, []
for i in range(procs):
    r = json.load(open(f"{out}/client-{i}.json"))
    connected += r.get("connected", 0)
    ok += r["ok"]
    cut += r["cut_off"]
    for k, v in r["errors"].items():
        errors[k] = errors.get(k, 0) + v
    client_peak += r["client_peak_rss_bytes"] / 2**20
    if r.get("connected"):
        client_per.append((r["client_peak_rss_bytes"] - r.get("client_base_rss_bytes", 0)) / 1024 / r["connected"])
    print(f"client {i}: {r['connected']} of {r['concurrency']} connected, the last {r.get('ramp_s', 0):.1f} s in; "
          f"{r['ok']} ok, {r['cut_off']} cut off, errors {r['errors'] or 'none'}; peak {r['client_peak_rss_bytes']/2**20:.1f} MiB")
print(f"{connected} of {n} connections answered by one target address ({procs} server processes on one port, {out}); "
      f"failures {errors or 'none'}; {ok} ok, {cut} cut off at the end")
print(f"server: peak {peak/1024:.1f} MiB over {procs} processes (idle {idle/1024:.1f}), "
      f"{(peak - idle) / max(connected, 1):.1f} KiB per connection (vmhwm)")
print(f"client: peak {client_peak:.1f} MiB over {procs} processes, "
      + ", ".join(f"{c:.1f}" for c in client_per) + " KiB per connection")
EOF
