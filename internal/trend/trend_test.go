package trend

import (
	"math"
	"math/rand/v2"
	"testing"
)

// series samples f every 50 ms for secs seconds.
func series(secs float64, f func(t float64) float64) (ts, ys []float64) {
	for t := 0.0; t <= secs; t += 0.05 {
		ts, ys = append(ts, t), append(ys, f(t))
	}
	return ts, ys
}

func TestFit(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	const mib = 1 << 20
	for _, tt := range []struct {
		name string
		f    func(t float64) float64
		want string
	}{
		// A leak of 12 MiB a minute under noise (5.5 MiB over the later
		// half): growing.
		{"leak", func(t float64) float64 { return 50*mib + 12*mib*t/60 + rng.Float64()*2*mib }, Growing},
		// 6 MiB a minute for the whole run: fast enough, but 2.7 MiB over
		// the later half is what a heap reaching its GC goal climbs: flat.
		{"goal", func(t float64) float64 { return 50*mib + 6*mib*t/60 }, Flat},
		// A flat server with noise: flat.
		{"flat", func(float64) float64 { return 50*mib + rng.Float64()*4*mib }, Flat},
		// A heap growing to its working size first, then holding: flat.
		{"warm-up", func(t float64) float64 { return 50*mib + 4*mib*min(t, 16)/16 + rng.Float64()*mib/4 }, Flat},
		// A sawtooth (GC cycles): climbs 40 MiB in 7 s, drops back. Its
		// least-squares slope over a part cycle is large; its minima are flat.
		{"sawtooth", func(t float64) float64 { return 50*mib + 40*mib*math.Mod(t, 7)/7 }, Flat},
		// Memory given back steadily, 30 MiB a minute: falling, not flat.
		{"falling", func(t float64) float64 { return 200*mib - 30*mib*t/60 + rng.Float64()*mib }, Falling},
	} {
		ts, ys := series(60, tt.f)
		got := Fit(ts, ys, 5, 30)
		if got.Verdict != tt.want || got.Low > got.BytesPerMin || got.High < got.BytesPerMin {
			t.Errorf("%s: %+v, want %s", tt.name, got, tt.want)
		}
	}
	ts, ys := series(20, func(float64) float64 { return mib })
	if got := Fit(ts, ys, 5, 30); got.Verdict != TooShort {
		t.Errorf("15 s after warm-up: %+v, want too short", got)
	}
}

// The fitted line is where the minima are: a clean ramp's line starts at
// the ramp's value at the start of the later half.
func TestFitLine(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	ts, ys := series(60, func(t float64) float64 { return 50*mib + 6*mib*t/60 })
	got := Fit(ts, ys, 4, 30)
	want := 50*mib + 6*mib*got.FromS/60
	if got.FromS < 31 || got.FromS > 33 || got.ToS < 59 || math.Abs(got.AtFromBytes-want) > mib/8 {
		t.Errorf("line from %.1f s to %.1f s at %.2f MiB, want from ~32 s at %.2f MiB", got.FromS, got.ToS, got.AtFromBytes/mib, want/mib)
	}
}

// The line's intercept is the median of what the slope leaves of each
// window's minimum, whatever order the windows come in: one dip in the
// middle windows of a flat series does not move the line to the dip.
func TestFitLineIgnoresADip(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	ts, ys := series(60, func(t float64) float64 {
		if t > 44 && t < 48.5 { // the middle windows of the later half
			return 30 * mib
		}
		return 50 * mib
	})
	got := Fit(ts, ys, 5, 30)
	if math.Abs(got.AtFromBytes-50*mib) > mib/8 {
		t.Errorf("a flat 50 MiB with a dip to 30: line at %.2f MiB, want 50", got.AtFromBytes/mib)
	}
}
