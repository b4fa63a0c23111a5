package stats

import "math"

// MannWhitneyP is the one-sided p-value of the Mann–Whitney U test for
// "cur is shifted in the worse direction from base" (worse = +1: larger).
// It is exact (by counting rank arrangements) for small samples, which is
// what repeats are, and uses the normal approximation beyond; ties share
// their mean rank.
func MannWhitneyP(base, cur []float64, worse int) float64 {
	n1, n2 := len(base), len(cur)
	// U counts pairs where cur is worse than base; ties count one half.
	u := 0.0
	for _, c := range cur {
		for _, b := range base {
			switch d := (c - b) * float64(worse); {
			case d > 0:
				u++
			case d == 0:
				u += 0.5
			}
		}
	}
	if n1*n2 <= 400 {
		return exactUpperTail(n1, n2, u)
	}
	mean := float64(n1*n2) / 2
	sd := math.Sqrt(float64(n1*n2*(n1+n2+1)) / 12)
	z := (u - 0.5 - mean) / sd // continuity correction
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// exactUpperTail is P(U ≥ u) when both samples come from one distribution:
// the share of all ways to place n2 items among n1+n2 ranks whose U is at
// least u, counted by dynamic programming over the U distribution.
func exactUpperTail(n1, n2 int, u float64) float64 {
	maxU := n1 * n2
	// count[i][j][k]: arrangements of i base and j cur items with U = k.
	var prev [][]float64 // the counts for i-1 base items
	for i := 0; i <= n1; i++ {
		cur := make([][]float64, n2+1)
		for j := range cur {
			cur[j] = make([]float64, maxU+1)
		}
		for j := 0; j <= n2; j++ {
			for k := 0; k <= maxU; k++ {
				var v float64
				if i == 0 && j == 0 {
					v = boolf(k == 0)
				}
				if i > 0 {
					v += prev[j][k] // the largest item is a base item: adds nothing
				}
				if j > 0 && k-i >= 0 {
					v += cur[j-1][k-i] // the largest is a cur item: beats all i base items
				}
				cur[j][k] = v
			}
		}
		prev = cur
	}
	var tail, total float64
	for k := 0; k <= maxU; k++ {
		total += prev[n2][k]
		if float64(k) >= u-1e-9 {
			tail += prev[n2][k]
		}
	}
	return tail / total
}

func boolf(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
