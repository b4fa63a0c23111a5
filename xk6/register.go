// Package flood is the k6 extension k6/x/flood: it samples the memory of the
// server a k6 test floods and emits it as k6 metrics (target_rss_bytes,
// target_rss_peak_bytes), so thresholds can fail a run on server memory,
// and saves heap profiles. It measures; k6 produces the load.
package flood

import "go.k6.io/k6/js/modules"

func init() {
	modules.Register("k6/x/flood", New())
}
