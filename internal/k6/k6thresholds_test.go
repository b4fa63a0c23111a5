package k6

import (
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/k6out"
)

func TestThresholdsJudgedOnMergedData(t *testing.T) {
	t.Parallel()
	var a, b k6out.Snapshot
	for i := range 100 {
		a.DurationUs.Record(int64(1000 + i)) // 1.000-1.099 ms
		b.DurationUs.Record(int64(9000 + i)) // 9.000-9.099 ms
	}
	a.Requests, a.Failed, b.Requests, b.Failed = 100, 0, 100, 4
	a.DurationSumUs, b.DurationSumUs = 104950, 904950
	a.Gauges, b.Gauges = map[string]float64{"target_rss_peak_bytes": 5e8}, map[string]float64{"target_rss_peak_bytes": 6e8}
	m := k6out.Merge([]k6out.Snapshot{a, b})
	tests := []struct {
		metric, expr string
		want         float64
		pass         bool
	}{
		{"http_req_failed", "rate<0.01", 0.02, false}, // a alone: 0, b alone: 0.04; merged 0.02
		{"http_req_failed", "rate<0.05", 0.02, true},
		{"http_reqs", "count>=200", 200, true},
		{"http_req_duration", "p(99)<9", 9.099, false},
		{"http_req_duration", "avg < 6", 5.0495, true},
		{"http_req_duration", "max<=9.099", 9.099, true},
		{"target_rss_peak_bytes", "value<536870912", 6e8, false}, // the highest of the instances'
	}
	for _, tt := range tests {
		th, err := parseThreshold(tt.metric, tt.expr)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.metric, tt.expr, err)
		}
		got, _, err := judgeAll([]k6Threshold{th}, m, 2)
		if err != nil {
			t.Fatalf("%s %s: %v", tt.metric, tt.expr, err)
		}
		// p(99) and max come from buckets: within one bucket (<1%).
		if d := got[0].Value - tt.want; d > tt.want/100 || d < -tt.want/100 || got[0].OK != tt.pass {
			t.Errorf("%s %s: %g (ok %v), want %g (ok %v)", tt.metric, tt.expr, got[0].Value, got[0].OK, tt.want, tt.pass)
		}
	}
	for _, bad := range [][2]string{{"http_req_duration{status:200}", "p(95)<500"}, {"http_reqs", "rate>>1"}, {"checks", "rate>0.9"}} {
		th, err := parseThreshold(bad[0], bad[1])
		if err == nil {
			_, _, err = judgeAll([]k6Threshold{th}, m, 2)
		}
		if err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%s %s: %v; want it refused as not judgeable on merged data", bad[0], bad[1], err)
		}
	}
}
