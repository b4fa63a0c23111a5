package main

import (
	"fmt"
	"testing"
)

// BenchmarkServePeakRSS floods a fresh server per impl and level and reports
// the kernel's peak RSS of that process. Run with -benchtime=Nx: each
// iteration is one flood of c concurrent ~8 MB downloads.
func BenchmarkServePeakRSS(b *testing.B) {
	const query = "rows=2000&width=4000"
	for _, impl := range []string{"buffered", "streamed", "batched"} {
		for _, c := range []int{1, 4, 16} {
			b.Run(fmt.Sprintf("impl=%s/c=%d", impl, c), func(b *testing.B) {
				peak, bytes := peakAfterFloods(b, impl, c, query)
				b.SetBytes(bytes)
				b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
			})
		}
	}
}

func peakAfterFloods(b *testing.B, impl string, c int, query string) (int64, int64) {
	var peak, bytes int64
	for b.Loop() {
		p, n := peakAfterFlood(b, impl, c, query)
		peak, bytes = max(peak, int64(p)), n
	}
	return peak, bytes
}
