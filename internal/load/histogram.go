package load

import (
	"time"

	"github.com/floodharness/harness/internal/hist"
)

// Histogram records latencies as the one histogram every driver uses
// (internal/hist, in microseconds: 128 buckets per power of two, so a
// quantile is within 0.8% of the true value), with the exact maximum
// beside it. The zero value is empty and ready; it is not safe for
// concurrent use (keep one per worker and Merge).
type Histogram struct {
	h   hist.Hist
	max time.Duration
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	h.h.Record(int64(max(d, 0) / time.Microsecond))
	h.max = max(h.max, d)
}

// Merge adds o's counts to h: exactly, bucket for bucket.
func (h *Histogram) Merge(o *Histogram) {
	h.h.Merge(&o.h)
	h.max = max(h.max, o.max)
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() int64 { return h.h.Count() }

// Max is the largest latency recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the latency at q (0..1), never above Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.h.Count() == 0 {
		return 0
	}
	return min(time.Duration(h.h.Quantile(q))*time.Microsecond, h.max)
}
