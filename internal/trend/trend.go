// Package trend says whether memory grows under steady load: a robust
// slope (Theil–Sen) through the minima of successive windows, so a
// sawtooth (a garbage-collected heap rising and falling) is not a leak,
// with Sen's confidence interval; "growing" only when its lower bound is
// above a floor and rises, over the steady part, more than a heap
// reaching its GC goal does. It reads numbers, never files or processes.
package trend

import (
	"fmt"
	"math"
	"slices"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/stats"
)

// Windows is how many windows the steady part is cut into; each gives
// its minimum.
const Windows = 12

// Floor is the slope below which growth is never called a leak: 2 MiB a
// minute. Measured here, a clean streamed Go server's RSS still crept
// 1.9 MiB/min (95% interval 0.8 to 2.6) over the later half of a 32 s
// soak: its allocator settling, not a leak. A slower leak needs a longer
// soak, whose interval narrows below the floor's doubt.
const Floor = 2 << 20

// MinRise is the least the fitted line must rise over the steady part,
// even at its interval's low end, for growth to be a leak: a Go heap that
// makes little garbage climbs until its GC first reaches its heap goal
// (4 MiB at the least), linearly, for longer than a short soak. Measured
// here, the streamed reference server with a 4 KiB buffer climbed +4.9
// MiB/min (95% interval +4.8 to +5.1) over the later half of a 32 s soak
// at 10 requests/s, 1.3 MiB in all, with no collection yet. A leak rises
// without bound; this rise is bounded by the heap goal.
const MinRise = 4 << 20

// Verdicts.
const (
	Growing  = result.TrendGrowing
	Falling  = result.TrendFalling
	Flat     = result.TrendFlat
	TooShort = result.TrendTooShort
)

// Fit finds the trend of ys (bytes) over ts (seconds) in the steady part:
// the later half of what follows warmup (a server's heap grows to its
// working size first: measured here, a streamed Go server's RSS climbed
// 0.25 MiB/s for its first 16 s under steady load, then held). Shorter
// than minSpan seconds after warmup is TooShort.
func Fit(ts, ys []float64, warmup, minSpan float64) result.Trend {
	method := fmt.Sprintf("Theil–Sen slope through the minima of %d equal windows over the later half of the run after warm-up, Sen's 95%% interval; growing when the lower bound is above %d MiB/min and rises %d MiB or more over that half", Windows, Floor>>20, MinRise>>20)
	end := warmup
	if len(ts) > 0 {
		end = ts[len(ts)-1]
	}
	if end-warmup < minSpan {
		return result.Trend{Verdict: TooShort, Method: method + fmt.Sprintf("; needs %.0f s after warm-up", minSpan)}
	}
	from := warmup + (end-warmup)/2
	var t0, t1 float64
	var xs, vs []float64
	for i, t := range ts {
		if t >= from && i < len(ys) {
			xs, vs = append(xs, t), append(vs, ys[i])
		}
	}
	if len(xs) > 0 {
		t0, t1 = xs[0], xs[len(xs)-1]
	}
	if len(xs) < 2*Windows {
		return result.Trend{Verdict: TooShort, Method: method + fmt.Sprintf("; needs %.0f s after warm-up", minSpan)}
	}
	w := (t1 - t0) / Windows
	var mx, my []float64
	for k := range Windows {
		lo, hi := t0+float64(k)*w, t0+float64(k+1)*w
		best, at := math.Inf(1), 0.0
		for i, x := range xs {
			if x >= lo && (x < hi || k == Windows-1 && x <= hi) && vs[i] < best {
				best, at = vs[i], x
			}
		}
		if !math.IsInf(best, 1) {
			mx, my = append(mx, at), append(my, best)
		}
	}
	slope, low, high := theilSen(mx, my)
	tr := result.Trend{BytesPerMin: 60 * slope, Low: 60 * low, High: 60 * high, Verdict: Flat, Method: method, FromS: t0, ToS: t1}
	// The line's intercept, as Theil–Sen takes it: the median of what the
	// slope leaves of each point.
	rest := make([]float64, len(mx))
	for i := range mx {
		rest[i] = my[i] - slope*mx[i]
	}
	tr.AtFromBytes = stats.Median(rest) + slope*t0
	switch {
	case tr.Low > Floor && low*(t1-t0) >= MinRise:
		tr.Verdict = Growing
	case tr.High < -Floor && -high*(t1-t0) >= MinRise:
		tr.Verdict = Falling // a steep fall is no "flat" either
	}
	return tr
}

// theilSen is the median of the pairwise slopes, with Sen's 95% interval
// (the slopes at ranks (N ∓ C)/2, C = 1.96·sqrt(n(n−1)(2n+5)/18)).
func theilSen(x, y []float64) (slope, low, high float64) {
	var s []float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			if dx := x[j] - x[i]; dx != 0 {
				s = append(s, (y[j]-y[i])/dx)
			}
		}
	}
	if len(s) == 0 {
		return 0, 0, 0
	}
	slices.Sort(s)
	n := float64(len(x))
	c := 1.96 * math.Sqrt(n*(n-1)*(2*n+5)/18)
	N := float64(len(s))
	lo := int(math.Floor((N - c) / 2))
	hi := int(math.Ceil((N+c)/2)) - 1
	lo, hi = max(lo, 0), min(hi, len(s)-1)
	return stats.MedianSorted(s), s[lo], s[hi]
}
