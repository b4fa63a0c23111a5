package load

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestQuantilesMatchExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	var a, b Histogram
	var all []time.Duration
	for i := range 20000 {
		d := time.Duration(r.ExpFloat64() * float64(30*time.Millisecond))
		all = append(all, d)
		if i%2 == 0 {
			a.Record(d)
		} else {
			b.Record(d)
		}
	}
	a.Merge(&b)
	slices.Sort(all)
	if a.Count() != int64(len(all)) || a.Max() != all[len(all)-1] {
		t.Fatalf("Count %d Max %v, want %d and %v", a.Count(), a.Max(), len(all), all[len(all)-1])
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := a.Quantile(q)
		if diff := float64(exact-got) / float64(exact); diff < -0.01 || diff > 0.01 {
			t.Errorf("Quantile(%v) = %v, exact %v: off by %.1f%%", q, got, exact, diff*100)
		}
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Error("empty histogram has a median")
	}
}
