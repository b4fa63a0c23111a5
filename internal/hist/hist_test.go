package hist

import (
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
)

// exact is the value of rank ceil(q·n) of sorted values.
func exact(sorted []int64, q float64) int64 {
	rank := int(q*float64(len(sorted)) + 0.999999999)
	rank = min(max(rank, 1), len(sorted))
	return sorted[rank-1]
}

func TestIndexBounds(t *testing.T) {
	t.Parallel()
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<63 - 1} {
		i := index(v)
		lo, hi := bounds(i)
		if v < lo || v > hi || i < 0 || i >= maxIndex {
			t.Errorf("value %d: bucket %d holds [%d, %d]", v, i, lo, hi)
		}
		if v >= sub && float64(hi-lo+1) > float64(v)/sub+1 {
			t.Errorf("value %d: bucket [%d, %d] wider than 1/%d of it", v, lo, hi, sub)
		}
	}
}

// Quantiles are within one bucket of the exact ones, and the merge of
// parts is the histogram of the whole: the same quantiles as one histogram
// of every value.
func TestQuantilesAndMerge(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var all []int64
	parts := make([]Hist, 3)
	var whole Hist
	for i := range 30000 {
		v := int64(r.ExpFloat64() * 40000) // µs: a long tail
		if i%97 == 0 {
			v = int64(r.IntN(100)) // some tiny ones, exact
		}
		all = append(all, v)
		parts[i%3].Record(v)
		whole.Record(v)
	}
	slices.Sort(all)
	var merged Hist
	for i := range parts {
		merged.Merge(&parts[i])
	}
	if merged.Count() != int64(len(all)) || merged.Max() != all[len(all)-1] {
		t.Fatalf("merged count %d max %d, want %d, %d", merged.Count(), merged.Max(), len(all), all[len(all)-1])
	}
	for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
		want := exact(all, q)
		got, gotWhole := merged.Quantile(q), whole.Quantile(q)
		if got != gotWhole {
			t.Errorf("q%.3f: merged %d, one histogram %d", q, got, gotWhole)
		}
		if got < want || !SameBucket(got, want) {
			t.Errorf("q%.3f: %d, exact %d: want the same bucket, never below", q, got, want)
		}
	}
}

func TestJSONRoundTrip(t *testing.T) {
	t.Parallel()
	var h Hist
	for _, v := range []int64{3, 3, 500, 1 << 30, 77} {
		h.Record(v)
	}
	b, err := json.Marshal(&h)
	if err != nil {
		t.Fatal(err)
	}
	var back Hist
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	for _, q := range []float64{0, 0.5, 1} {
		if back.Quantile(q) != h.Quantile(q) || back.Count() != 5 {
			t.Errorf("q%v: %d after a round trip, %d before", q, back.Quantile(q), h.Quantile(q))
		}
	}
	for _, bad := range []string{
		`{"buckets":[[-1,1]],"n":1,"min":0,"max":0}`,
		`{"buckets":[[99999,1]],"n":1,"min":0,"max":0}`,
		`{"buckets":[[3,0]],"n":0,"min":3,"max":3}`,
		`{"buckets":[[3,2]],"n":5,"min":3,"max":3}`,
		`{"buckets":[[3,1],[3,1]],"n":2,"min":3,"max":3}`,
		`{"buckets":[[3,1]],"n":1,"min":3,"max":900}`,
	} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s: accepted", bad)
		}
	}
}

// Whatever the network sends, decoding never panics, and what it accepts
// is a consistent histogram.
func FuzzUnmarshal(f *testing.F) {
	f.Add([]byte(`{"buckets":[[3,2],[500,1]],"n":3,"min":3,"max":500}`))
	f.Add([]byte(`{"buckets":[],"n":0,"min":0,"max":0}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var h Hist
		if json.Unmarshal(b, &h) != nil {
			return
		}
		if h.Count() > 0 && (h.Quantile(0) > h.Quantile(1) || h.Quantile(1) != h.Max()) {
			t.Errorf("accepted an inconsistent histogram: %s", b)
		}
	})
}
