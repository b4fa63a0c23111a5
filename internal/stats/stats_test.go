package stats

import (
	"math"
	"testing"
)

func TestMedian(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		v    []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		in := append([]float64(nil), tt.v...)
		if got := Median(tt.v); got != tt.want {
			t.Errorf("Median(%v) = %v, want %v", tt.v, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.v[i] {
				t.Errorf("Median changed its input: %v, was %v", tt.v, in)
			}
		}
	}
}

func TestFit(t *testing.T) {
	t.Parallel()
	slope, at0, ok := Fit([]float64{1, 2, 3, 4}, []float64{5, 7, 9, 11})
	if !ok || math.Abs(slope-2) > 1e-12 || math.Abs(at0-3) > 1e-12 {
		t.Errorf("Fit(y = 2x + 3) = %v, %v, %v", slope, at0, ok)
	}
	for _, bad := range [][2][]float64{{{1}, {1}}, {{2, 2}, {1, 3}}, {{1, 2}, {1}}} {
		if _, _, ok := Fit(bad[0], bad[1]); ok {
			t.Errorf("Fit(%v, %v) fitted a line", bad[0], bad[1])
		}
	}
}
