// Package stats is the arithmetic the harness's verdicts share: the median
// of a sample, the least-squares line through points and the Mann–Whitney
// U test of a shift. It knows nothing of runs, bytes or verdicts.
package stats

import "slices"

// Median is the median of v, which must not be empty; v is not changed.
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return MedianSorted(s)
}

// MedianSorted is the median of s, sorted already and not empty.
func MedianSorted(s []float64) float64 {
	if n := len(s); n%2 == 1 {
		return s[n/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// Fit is the least-squares line of y over x: its slope and its value at
// x = 0; false when there are fewer than two points, x and y differ in
// length, or x does not vary.
func Fit(x, y []float64) (slope, intercept float64, ok bool) {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return 0, 0, false
	}
	var sx, sy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
	}
	mx, my := sx/n, sy/n
	var num, den float64
	for i := range x {
		num += (x[i] - mx) * (y[i] - my)
		den += (x[i] - mx) * (x[i] - mx)
	}
	if den == 0 {
		return 0, 0, false
	}
	slope = num / den
	return slope, my - slope*mx, true
}
