package stats

import (
	"math"
	"testing"
)

func TestMannWhitneyExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		base, cur []float64
		worse     int
		want      float64
	}{
		{[]float64{1, 2, 3}, []float64{4, 5, 6}, +1, 1.0 / 20},
		{[]float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, +1, 1.0 / 70},
		{[]float64{4, 5, 6}, []float64{1, 2, 3}, +1, 1},
		{[]float64{4, 5, 6}, []float64{1, 2, 3}, -1, 1.0 / 20},
		{[]float64{1, 2, 3}, []float64{1.5, 5, 6}, +1, 4.0 / 20}, // U = 8: arrangements with U ≥ 8
	}
	for _, tt := range tests {
		if got := MannWhitneyP(tt.base, tt.cur, tt.worse); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("MannWhitneyP(%v, %v, %d) = %v, want %v", tt.base, tt.cur, tt.worse, got, tt.want)
		}
	}
	big := make([]float64, 30)
	shifted := make([]float64, 30)
	for i := range big {
		big[i], shifted[i] = float64(i), float64(i)+15
	}
	if p := MannWhitneyP(big, shifted, +1); p > 0.001 {
		t.Errorf("normal approximation: p = %v for a clear shift", p)
	}
}
