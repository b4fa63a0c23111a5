#!/usr/bin/env bash
# The load client measured against wrk, hey and vegeta, side by side: one
# nginx serving a ~10.6 MB JSON file with sendfile (a near-free server, so
# the clients are what is measured), the same URL, c = 16, 64, 256, each
# tool for the same time, interleaved, several rounds. CPU time and peak
# RSS of each client come from GNU time (%U+%S, %M) so every tool is
# measured the same way; MB/s is body bytes the tool itself reports over
# the run time. The harness is measured as bin/harness-load, the binary
# `harness load` execs: GNU time's %M (ru_maxrss) would otherwise count
# the image before the exec. vegeta is built from the module proxy into
# bin/tools (a bench tool, never a dependency).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
secs=${SECS:-5}
levels=${LEVELS:-"16 64 256"}
out=reports/bench-client
rm -rf "$out"
mkdir -p "$out/www"
rows="$out/rows.tsv"
: >"$rows"

if [ ! -x bin/tools/vegeta ]; then
	GOBIN="$PWD/bin/tools" go install github.com/tsenart/vegeta/v12@v12.13.0
fi

# The body: the streamed reference server's export, written once to a file.
bin/harness serve --impl streamed --port 0 >"$out/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q listening "$out/server.log" && break; sleep 0.1; done
addr=$(awk '/^listening/{print $2; exit}' "$out/server.log")
curl -s -o "$out/www/export.json" "http://$addr/export?rows=5000&width=2000"
kill "$server"
wait "$server" 2>/dev/null || true
body=$(stat -c %s "$out/www/export.json")

# nginx on a loopback port of its own, in the foreground, stopped by PID.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$out/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $PWD/$out/nginx.pid;
error_log $PWD/$out/nginx-error.log;
events { worker_connections 4096; }
http {
	access_log off;
	sendfile on;
	tcp_nopush on;
	keepalive_requests 1000000;
	client_body_temp_path $PWD/$out/tmp;
	proxy_temp_path $PWD/$out/tmp;
	fastcgi_temp_path $PWD/$out/tmp;
	uwsgi_temp_path $PWD/$out/tmp;
	scgi_temp_path $PWD/$out/tmp;
	server { listen 127.0.0.1:$port; root $PWD/$out/www; }
}
EOF
mkdir -p "$out/tmp"
nginx -c "$PWD/$out/nginx.conf" -e "$PWD/$out/nginx-error.log" &
nginx=$!
trap 'kill "$nginx" 2>/dev/null; wait "$nginx" 2>/dev/null || true' EXIT
url="http://127.0.0.1:$port/export.json"
for _ in $(seq 50); do curl -sf -o /dev/null "$url" && break; sleep 0.1; done

# measure TOOL C CMD...: appends "tool c MBps cpu_s_per_GB rss_MiB" to rows.
measure() {
	local tool=$1 c=$2
	shift 2
	local log="$out/$tool-c$c.log"
	/usr/bin/time -f "TIME %e %U %S %M" "$@" >"$log" 2>&1
	local cpu rss bytes
	cpu=$(awk '/^TIME/{print $3+$4}' "$log")
	rss=$(awk '/^TIME/{printf "%.1f", $5/1024}' "$log")
	case $tool in
	wrk) bytes=$(awk '/ read$/{v=$(NF-1); u=v; sub(/[0-9.]+/,"",u); sub(/[A-Z]+$/,"",v); m=(u=="GB")?2^30:(u=="MB")?2^20:(u=="KB")?2^10:1; printf "%.0f", v*m}' "$log") ;;
	hey) bytes=$(awk -v body="$body" '/\[200\].*responses/{printf "%.0f\n", $2 * body}' "$log") ;;
	vegeta) bytes=$(grep -o '"bytes_in":{"total":[0-9]*' "$log" | grep -o '[0-9]*$') ;;
	*) bytes=$(awk -F'[:,]' '/"bytes_received"/{gsub(/ /,"",$2); print $2}' "$log") ;;
	esac
	printf "%s\t%s\t%.1f\t%.3f\t%s\n" "$tool" "$c" "$(echo "$bytes / $secs / 1000000" | bc -l)" \
		"$(echo "$cpu / ($bytes / 1000000000)" | bc -l)" "$rss" >>"$rows"
}

for r in $(seq "$rounds"); do
	for c in $levels; do
		measure wrk "$c" wrk -t2 -c"$c" -d"${secs}s" "$url"
		measure hey "$c" hey -z "${secs}s" -c "$c" -disable-compression "$url"
		# vegeta at its fastest: as many workers as clients, no rate; the
		# report reads the attack's results from a pipe.
		measure vegeta "$c" bash -c "echo 'GET $url' | bin/tools/vegeta attack -rate=0 -workers=$c -max-workers=$c -duration=${secs}s | bin/tools/vegeta report -type=json"
		measure harness "$c" bin/harness-load -c "$c" -d "${secs}s" --grace 0s --json "$url"
		echo "round $r/$rounds c=$c done" >&2
	done
done

# Medians over rounds, one line per tool × level, and the harness against
# each other tool.
sort -k1,1 -k2,2n "$rows" | awk -F'\t' '
function med(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ k = $1 "\t" $2; if (!(k in seen)) { seen[k] = 1; order[++n] = k } mb[k] = mb[k] " " $3; cpu[k] = cpu[k] " " $4; rss[k] = rss[k] " " $5 }
END {
	printf "%-8s %4s %9s %11s %13s %12s\n", "client", "c", "MB/s", "CPU-s/GB", "peak RSS MiB", "harness ÷ it"
	for (i = 1; i <= n; i++) { split(order[i], p, "\t"); m[p[1], p[2]] = med(mb[order[i]]) }
	for (i = 1; i <= n; i++) {
		split(order[i], p, "\t")
		printf "%-8s %4s %9.1f %11.3f %13.1f %12.2f\n", p[1], p[2], med(mb[order[i]]), med(cpu[order[i]]), med(rss[order[i]]), m["harness", p[2]] / med(mb[order[i]])
	}
}' | tee "$out/table.txt"
