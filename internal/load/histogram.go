package load

import (
	"math/bits"
	"time"
)

// Histogram records latencies in log-linear buckets, HDR-style: each power
// of two of microseconds is split into 64 sub-buckets, so any quantile is
// within 1/64 (1.6%) of the true value, from 1µs to hours, in fixed memory.
// The zero value is empty and ready; it is not safe for concurrent use (keep
// one per worker and Merge).
type Histogram struct {
	counts [64 * 40]int64
	n      int64
	max    time.Duration
}

const subBits = 6

func bucket(us uint64) int {
	if us < 1<<subBits {
		return int(us)
	}
	shift := bits.Len64(us) - subBits - 1
	return (shift+1)<<subBits + int(us>>shift) - 1<<subBits
}

// lowest is the smallest value in bucket i, in µs.
func lowest(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	shift := i>>subBits - 1
	return (uint64(i&(1<<subBits-1)) + 1<<subBits) << shift
}

// Record adds one latency.
func (h *Histogram) Record(d time.Duration) {
	us := uint64(max(d, 0) / time.Microsecond)
	i := min(bucket(us), len(h.counts)-1)
	h.counts[i]++
	h.n++
	h.max = max(h.max, d)
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.max = max(h.max, o.max)
}

// Count is the number of latencies recorded.
func (h *Histogram) Count() int64 { return h.n }

// Max is the largest latency recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Quantile returns the latency at q (0..1): the lower edge of the bucket
// holding it, never above Max.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n) + 0.5)
	rank = min(max(rank, 1), h.n)
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(time.Duration(lowest(i))*time.Microsecond, h.max)
		}
	}
	return h.max
}
