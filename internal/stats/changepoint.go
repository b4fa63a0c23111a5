package stats

import (
	"math"
	"slices"
)

// ChangePoint is where a series' distribution changed, as E-divisive
// means finds it: Index is the first point after the change.
type ChangePoint struct {
	Index        int
	MeanL, MeanR float64 // the means of the segments either side
	P            float64 // Welch's two-sided t-test of the two segments
	// Low and High bound the change of the mean, relative to MeanL, at 95%.
	Low, High float64
}

// Rel is the change of the mean relative to the left segment's.
func (c ChangePoint) Rel() float64 {
	if c.MeanL == 0 {
		return math.NaN()
	}
	return c.MeanR/c.MeanL - 1
}

// ChangeOptions bound what counts as a change point.
type ChangeOptions struct {
	MinSegment   int     // points each side of a change, at least
	MaxP         float64 // the t-test's p-value, at most
	MinMagnitude float64 // the relative change of the mean, at least (0.05: 5%)
}

// ChangePoints finds the change points of xs by E-divisive means, as
// Apache Otava (formerly Hunter) does: the split of a segment that
// maximises the energy statistic q̂ is a candidate; the best candidate
// over all segments is kept when Welch's t-test finds its two sides
// different (p ≤ MaxP) by at least MinMagnitude — on as many points
// either side as its shorter side has — and the search goes on in the
// segments it leaves, until no candidate passes. Sorted by index.
func ChangePoints(xs []float64, o ChangeOptions) []ChangePoint {
	o.MinSegment = max(o.MinSegment, 2)
	bounds := []int{0, len(xs)}
	var out []ChangePoint
	for {
		var best ChangePoint
		bestQ, found := math.Inf(-1), false
		for i := 0; i+1 < len(bounds); i++ {
			a, b := bounds[i], bounds[i+1]
			tau, q, ok := bestSplit(xs[a:b], o.MinSegment)
			if !ok || q <= bestQ {
				continue
			}
			// Tested on as many points either side as the shorter side
			// has: a later change beyond the longer side (a regression,
			// then its fix) would blur the test of this one.
			w := min(tau, b-a-tau)
			cp := testSplit(xs[a+tau-w:a+tau+w], w)
			cp.Index += a + tau - w
			if cp.P > o.MaxP || math.Abs(cp.Rel()) < o.MinMagnitude {
				continue
			}
			best, bestQ, found = cp, q, true
		}
		if !found {
			break
		}
		out = append(out, best)
		bounds = append(bounds, best.Index)
		slices.Sort(bounds)
	}
	slices.SortFunc(out, func(a, b ChangePoint) int { return a.Index - b.Index })
	return out
}

// bestSplit is the split of xs maximising q̂ (Matteson and James's
// energy statistic, α = 1), each side at least min points.
func bestSplit(xs []float64, min int) (tau int, q float64, ok bool) {
	n := len(xs)
	if n < 2*min {
		return 0, 0, false
	}
	q = math.Inf(-1)
	for t := min; t <= n-min; t++ {
		l, r := xs[:t], xs[t:]
		var between, within1, within2 float64
		for _, x := range l {
			for _, y := range r {
				between += math.Abs(x - y)
			}
		}
		for i := range l {
			for j := i + 1; j < len(l); j++ {
				within1 += math.Abs(l[i] - l[j])
			}
		}
		for i := range r {
			for j := i + 1; j < len(r); j++ {
				within2 += math.Abs(r[i] - r[j])
			}
		}
		m, k := float64(len(l)), float64(len(r))
		e := 2*between/(m*k) - within1/(m*(m-1)/2) - within2/(k*(k-1)/2)
		if v := m * k / (m + k) * e; v > q {
			tau, q = t, v
		}
	}
	return tau, q, true
}

// testSplit is Welch's t-test of xs[:tau] against xs[tau:], with the 95%
// interval of the change of the mean relative to the left one.
func testSplit(xs []float64, tau int) ChangePoint {
	l, r := xs[:tau], xs[tau:]
	ml, vl := meanVar(l)
	mr, vr := meanVar(r)
	cp := ChangePoint{Index: tau, MeanL: ml, MeanR: mr, P: 1}
	se2 := vl/float64(len(l)) + vr/float64(len(r))
	if se2 == 0 {
		if ml != mr {
			cp.P = 0
		}
		cp.Low, cp.High = cp.Rel(), cp.Rel()
		return cp
	}
	t := (mr - ml) / math.Sqrt(se2)
	// Welch–Satterthwaite degrees of freedom.
	a, b := vl/float64(len(l)), vr/float64(len(r))
	df := se2 * se2 / (a*a/float64(len(l)-1) + b*b/float64(len(r)-1))
	cp.P = 2 * studentTail(math.Abs(t), df)
	half := studentQuantile(0.975, df) * math.Sqrt(se2)
	if ml != 0 {
		cp.Low, cp.High = (mr-half)/ml-1, (mr+half)/ml-1
	}
	return cp
}

func meanVar(xs []float64) (mean, variance float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (x - mean) * (x - mean)
	}
	return mean, variance / float64(len(xs)-1)
}

// studentTail is P(T > t) for Student's t with df degrees of freedom.
func studentTail(t, df float64) float64 {
	return 0.5 * incompleteBeta(df/2, 0.5, df/(df+t*t))
}

// studentQuantile is the t with P(T ≤ t) = p, by bisection.
func studentQuantile(p, df float64) float64 {
	lo, hi := 0.0, 1e3
	for range 200 {
		mid := (lo + hi) / 2
		if 1-studentTail(mid, df) < p {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// incompleteBeta is the regularized incomplete beta function I_x(a, b),
// by its continued fraction (Lentz's method).
func incompleteBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log(1-x))
	if x > (a+1)/(a+b+2) {
		return 1 - incompleteBeta(b, a, 1-x)
	}
	const tiny = 1e-300
	f, c, d := 1.0, 1.0, 0.0
	for i := 0; i <= 300; i++ {
		m := float64(i / 2)
		var num float64
		switch {
		case i == 0:
			num = 1
		case i%2 == 0:
			num = m * (b - m) * x / ((a + 2*m - 1) * (a + 2*m))
		default:
			num = -(a + m) * (a + b + m) * x / ((a + 2*m) * (a + 2*m + 1))
		}
		d = 1 + num*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		d = 1 / d
		c = 1 + num/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		f *= c * d
		if math.Abs(1-c*d) < 1e-12 {
			break
		}
	}
	return front * (f - 1) / a
}
