package flood

import (
	"testing"

	"github.com/floodharness/harness/internal/sample"
)

func TestPeakOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		best int64
		smp  sample.Sample
		want int64
	}{
		{"one process: its VmHWM, which sampling cannot miss", 0, sample.Sample{RSS: 100, HWM: 150, Procs: 1}, 150},
		{"several: the sampled sum, not the sum of peaks that never met", 0, sample.Sample{RSS: 300, HWM: 900, Procs: 3}, 300},
		{"never lower than before", 400, sample.Sample{RSS: 300, HWM: 900, Procs: 3}, 400},
	} {
		if got := peakOf(tt.best, tt.smp); got != tt.want {
			t.Errorf("%s: peakOf(%d, %+v) = %d, want %d", tt.name, tt.best, tt.smp, got, tt.want)
		}
	}
}
