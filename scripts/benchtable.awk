# Turns `go test -bench` output into a table.
#   -v metrics=a,b   the units to show (e.g. ns/row,B/op or peak-rss-MiB)
#   -v pivot=key     with one metric: rows by the other sub-benchmark keys,
#                    one column per value of key (e.g. c=1 c=4 c=16)
# Lines that are not benchmark results pass through unchanged when they
# report a failure, so a broken run is not hidden.
BEGIN { n = split(metrics, want, ","); nrows = 0; ncols = 0 }
/^(FAIL|panic|--- FAIL)/ { print; failed = 1 }
/^Benchmark/ {
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^Benchmark[^\/]*\//, "", name)
	for (i = 3; i < NF; i++) val[name, $(i + 1)] = $i
	if (pivot == "") { if (!(name in seen)) { seen[name] = 1; order[++nrows] = name } ; next }
	row = name; col = name
	sub("/?" pivot "=[^/]*", "", row); match(name, pivot "=[^/]*"); col = substr(name, RSTART, RLENGTH)
	if (!(row in seenrow)) { seenrow[row] = 1; rows[++nrows] = row }
	if (!(col in seencol)) { seencol[col] = 1; cols[++ncols] = col }
	cell[row, col] = val[name, want[1]]
}
END {
	if (pivot == "") {
		printf "%-34s", "benchmark"; for (j = 1; j <= n; j++) printf " %12s", want[j]; print ""
		for (i = 1; i <= nrows; i++) {
			printf "%-34s", order[i]; for (j = 1; j <= n; j++) printf " %12s", val[order[i], want[j]]; print ""
		}
	} else {
		printf "%-20s", ""; for (j = 1; j <= ncols; j++) printf " %10s", cols[j]; print ""
		for (i = 1; i <= nrows; i++) {
			printf "%-20s", rows[i]; for (j = 1; j <= ncols; j++) printf " %10s", cell[rows[i], cols[j]]; print ""
		}
	}
	if (failed) exit 1
}
