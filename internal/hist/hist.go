// Package hist is a log-linear histogram of non-negative integers (request
// durations in microseconds), HDR-style: values below 128 exactly, above
// that in 128 buckets per power of two, so a bucket is at most 1/128 (0.8%)
// of its values wide. Its size is bounded (at most 7296 buckets, kept
// sparse) however many values it holds, and two histograms merge exactly:
// the merge of the instances' histograms is the histogram of the union of
// their values, bucket for bucket. k6 instances send theirs to the harness
// (xk6's output "flood"); the harness merges them.
package hist

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
)

const (
	subBits = 7
	sub     = 1 << subBits // buckets per power of two (and exact values below it)
	// maxIndex bounds the bucket index of any int64 value.
	maxIndex = sub + (63-subBits)*sub
)

// Hist counts values in buckets. The zero value is empty and ready.
type Hist struct {
	counts map[int]int64
	n      int64
	min    int64
	max    int64
}

// index is the bucket of v (v ≥ 0).
func index(v int64) int {
	if v < sub {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // v>>e is in [sub, 2·sub)
	return sub + e*sub + int(v>>e) - sub
}

// bounds is the range of values bucket i holds, [lo, hi].
func bounds(i int) (lo, hi int64) {
	if i < sub {
		return int64(i), int64(i)
	}
	e := (i - sub) / sub
	m := int64((i-sub)%sub + sub)
	return m << e, (m+1)<<e - 1
}

// Record adds one value (negative values count as 0).
func (h *Hist) Record(v int64) {
	if v < 0 {
		v = 0
	}
	if h.counts == nil {
		h.counts = map[int]int64{}
	}
	h.counts[index(v)]++
	if h.n == 0 || v < h.min {
		h.min = v
	}
	h.max = max(h.max, v)
	h.n++
}

// Count is how many values were recorded.
func (h *Hist) Count() int64 { return h.n }

// Max is the largest value recorded (exact).
func (h *Hist) Max() int64 { return h.max }

// Merge adds o's values to h, exactly.
func (h *Hist) Merge(o *Hist) {
	if o == nil || o.n == 0 {
		return
	}
	if h.counts == nil {
		h.counts = map[int]int64{}
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
}

// Quantile is the value at quantile q (0..1): the upper bound of the
// bucket that holds the value of rank ceil(q·n), capped at the largest
// value recorded, so it is never below the true quantile and above it by
// less than one bucket's width. 0 for an empty histogram.
func (h *Hist) Quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(q*float64(h.n) + 0.999999999)
	rank = min(max(rank, 1), h.n)
	idx := make([]int, 0, len(h.counts))
	for i := range h.counts {
		idx = append(idx, i)
	}
	slices.Sort(idx)
	var seen int64
	for _, i := range idx {
		seen += h.counts[i]
		if seen >= rank {
			_, hi := bounds(i)
			return min(max(hi, h.min), h.max)
		}
	}
	return h.max
}

// SameBucket reports whether a and b fall in one bucket: how close a
// quantile of this histogram is to the exact one.
func SameBucket(a, b int64) bool { return index(max(a, 0)) == index(max(b, 0)) }

// wire is the JSON form: sparse [index, count] pairs in index order.
type wire struct {
	Buckets [][2]int64 `json:"buckets"`
	N       int64      `json:"n"`
	Min     int64      `json:"min"`
	Max     int64      `json:"max"`
}

// MarshalJSON writes the histogram's buckets.
func (h *Hist) MarshalJSON() ([]byte, error) {
	w := wire{Buckets: [][2]int64{}, N: h.n, Min: h.min, Max: h.max}
	for i, c := range h.counts {
		w.Buckets = append(w.Buckets, [2]int64{int64(i), c})
	}
	slices.SortFunc(w.Buckets, func(a, b [2]int64) int { return int(a[0] - b[0]) })
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote, refusing what no histogram
// could hold (an index out of range, a negative count, counts that do not
// add up to n): the collector takes these from the network.
func (h *Hist) UnmarshalJSON(b []byte) error {
	var w wire
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	if len(w.Buckets) > maxIndex {
		return fmt.Errorf("histogram: %d buckets, at most %d", len(w.Buckets), maxIndex)
	}
	counts := make(map[int]int64, len(w.Buckets))
	var n int64
	for _, bc := range w.Buckets {
		if bc[0] < 0 || bc[0] >= maxIndex || bc[1] <= 0 {
			return fmt.Errorf("histogram: bucket %d count %d out of range", bc[0], bc[1])
		}
		if _, dup := counts[int(bc[0])]; dup {
			return fmt.Errorf("histogram: bucket %d given twice", bc[0])
		}
		counts[int(bc[0])] = bc[1]
		n += bc[1]
		if n < 0 {
			return fmt.Errorf("histogram: counts overflow")
		}
	}
	if n != w.N || w.Min < 0 || w.Max < w.Min || (n > 0 && (index(w.Min) != firstKey(counts) || index(w.Max) != lastKey(counts))) {
		return fmt.Errorf("histogram: n %d, min %d, max %d do not match its buckets", w.N, w.Min, w.Max)
	}
	*h = Hist{counts: counts, n: n, min: w.Min, max: w.Max}
	if n == 0 {
		*h = Hist{}
	}
	return nil
}

func firstKey(m map[int]int64) int {
	k := maxIndex
	for i := range m {
		k = min(k, i)
	}
	return k
}

func lastKey(m map[int]int64) int {
	k := -1
	for i := range m {
		k = max(k, i)
	}
	return k
}
