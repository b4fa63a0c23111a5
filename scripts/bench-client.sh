#!/usr/bin/env bash
# The load client measured against wrk and hey: one streamed reference
# server, the same URL (~10.6 MB JSON body), c = 1, 16, 64, each tool for
# the same time, interleaved, several rounds. CPU time and peak RSS of each
# client come from GNU time (%U+%S, %M) so every tool is measured the same
# way; MB/s is body bytes the tool itself reports over the run time. The
# harness is measured as bin/harness-load, the binary `harness load` execs:
# GNU time's %M (ru_maxrss) would otherwise count the image before the exec.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
secs=${SECS:-5}
levels=${LEVELS:-"1 16 64"}
out=reports/bench-client
mkdir -p "$out"
rows="$out/rows.tsv"
: >"$rows"

bin/harness serve --impl streamed --port 0 >"$out/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$out/server.log" && break; sleep 0.1; done
addr=$(awk '/^listening/{print $2; exit}' "$out/server.log")
url="http://$addr/export?rows=5000&width=2000"
# hey prints no byte count for chunked bodies: it is 200-responses × this.
body=$(bin/harness load -n 1 -c 1 --json "$url" | awk -F'[:,]' '/"bytes_received"/{gsub(/ /,"",$2); print $2}')

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
	*) bytes=$(awk -F'[:,]' '/"bytes_received"/{gsub(/ /,"",$2); print $2}' "$log") ;;
	esac
	printf "%s\t%s\t%.1f\t%.3f\t%s\n" "$tool" "$c" "$(echo "$bytes / $secs / 1000000" | bc -l)" \
		"$(echo "$cpu / ($bytes / 1000000000)" | bc -l)" "$rss" >>"$rows"
}

for r in $(seq "$rounds"); do
	for c in $levels; do
		t=$((c < 2 ? 1 : 2))
		measure wrk "$c" wrk -t"$t" -c"$c" -d"${secs}s" "$url"
		measure hey "$c" hey -z "${secs}s" -c "$c" -disable-compression "$url"
		measure harness "$c" bin/harness-load -c "$c" -d "${secs}s" --grace 0s --json "$url"
		measure harness-validate "$c" bin/harness-load -c "$c" -d "${secs}s" --grace 0s --validate json --json "$url"
		echo "round $r/$rounds c=$c done" >&2
	done
done

# Medians over rounds, one line per tool × level, and harness/wrk.
sort -k1,1 -k2,2n "$rows" | awk -F'\t' '
function med(s,   a, n, i, j, t) {
	n = split(s, a, " ")
	for (i = 2; i <= n; i++) for (j = i; j > 1 && a[j-1] + 0 > a[j] + 0; j--) { t = a[j]; a[j] = a[j-1]; a[j-1] = t }
	return n % 2 ? a[(n+1)/2] : (a[n/2] + a[n/2+1]) / 2
}
{ k = $1 "\t" $2; if (!(k in seen)) { seen[k] = 1; order[++n] = k } mb[k] = mb[k] " " $3; cpu[k] = cpu[k] " " $4; rss[k] = rss[k] " " $5 }
END {
	printf "%-17s %4s %9s %11s %13s %10s\n", "client", "c", "MB/s", "CPU-s/GB", "peak RSS MiB", "MB/s÷wrk"
	for (i = 1; i <= n; i++) { split(order[i], p, "\t"); m[p[1], p[2]] = med(mb[order[i]]) }
	for (i = 1; i <= n; i++) {
		split(order[i], p, "\t")
		printf "%-17s %4s %9.1f %11.3f %13.1f %10.2f\n", p[1], p[2], med(mb[order[i]]), med(cpu[order[i]]), med(rss[order[i]]), med(mb[order[i]]) / m["wrk", p[2]]
	}
}' | tee "$out/table.txt"
