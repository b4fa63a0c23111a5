// Package flood is the k6 extension k6/x/flood: it samples the memory of the
// server a k6 test floods and emits it as k6 metrics (target_rss_bytes,
// target_rss_peak_bytes), so thresholds can fail a run on server memory,
// and saves heap profiles. It measures; k6 produces the load. Its output
// "flood" (k6 run --out flood=URL) sends this instance's request totals and
// duration histogram to the harness, which merges several instances' runs.
package flood

import (
	"go.k6.io/k6/js/modules"
	"go.k6.io/k6/output"
)

func init() {
	modules.Register("k6/x/flood", New())
	output.RegisterExtension("flood", NewOutput)
}
