package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Student's t against table values.
func TestStudent(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ t, df, tail float64 }{
		{2.0, 10, 0.036694}, {1.0, 5, 0.181609}, {3.0, 30, 0.002685},
	} {
		if got := studentTail(tt.t, tt.df); math.Abs(got-tt.tail) > 1e-5 {
			t.Errorf("P(T > %v; df %v) = %v, want %v", tt.t, tt.df, got, tt.tail)
		}
	}
	if q := studentQuantile(0.975, 10); math.Abs(q-2.228139) > 1e-4 {
		t.Errorf("t(0.975; 10) = %v, want 2.228", q)
	}
}

// A series that steps up 15% after 10 runs has one change point there,
// its size inside the interval; one that only wobbles has none; two steps
// are both found.
func TestChangePoints(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	noisy := func(n int, mean float64) []float64 {
		var out []float64
		for range n {
			out = append(out, mean*(1+0.02*rng.NormFloat64()))
		}
		return out
	}
	o := ChangeOptions{MinSegment: 4, MaxP: 0.001, MinMagnitude: 0.05}
	step := append(noisy(10, 100), noisy(8, 115)...)
	cps := ChangePoints(step, o)
	if len(cps) != 1 || cps[0].Index != 10 || cps[0].Low > 0.15 || cps[0].High < 0.15 || cps[0].Rel() < 0.1 {
		t.Errorf("one step: %+v", cps)
	}
	if cps := ChangePoints(noisy(30, 100), o); len(cps) != 0 {
		t.Errorf("noise alone: %+v", cps)
	}
	two := append(append(noisy(8, 100), noisy(8, 130)...), noisy(8, 100)...)
	if cps := ChangePoints(two, o); len(cps) != 2 || cps[0].Index != 8 || cps[1].Index != 16 {
		t.Errorf("up then down: %+v", cps)
	}
	if cps := ChangePoints([]float64{1, 2}, o); len(cps) != 0 {
		t.Errorf("too short: %+v", cps)
	}
}
