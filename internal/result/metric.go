package result

// OKRatio is the share of the requests meant to complete that did: aborted
// (on purpose) and cut-off (still running at the end) requests are left
// out. It is 1 when there was nothing to complete.
func (r Client) OKRatio() float64 {
	n := r.Requests - r.Aborted - r.CutOff
	if n <= 0 {
		return 1
	}
	return float64(r.OK) / float64(n)
}

// Killed says what killed the target at its memory limit: "OOM-killed"
// (the kernel, in the target's cgroup) or "killed by the watchdog" (the
// harness, at a sampled RSS); "" when it lived.
func (r Run) Killed() string {
	switch {
	case !r.OOMKilled:
		return ""
	case r.MemoryLimitBy == LimitWatchdog:
		return "killed by the watchdog"
	}
	return "OOM-killed"
}

// MBps is the body throughput in megabytes (10^6) per second.
func (r Client) MBps() float64 {
	if r.DurationS <= 0 {
		return 0
	}
	return float64(r.BytesReceived) / r.DurationS / 1e6
}

// Slope is the least-squares slope of y over x, and false when x does not
// vary. For peak RSS over concurrency it is bytes per extra client: the
// one number that says an endpoint buffers.
func Slope(x, y []float64) (float64, bool) {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return 0, false
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
		return 0, false
	}
	return num / den, true
}

// PeakSlope is the target's peak RSS per extra client: the slope of the
// levels' median peaks over concurrency, and false with fewer than two
// measured levels.
func (r *Results) PeakSlope(target string) (float64, bool) {
	var xs, ys []float64
	for _, l := range r.Levels() {
		m, ok := Median(r.Select(target, l), func(run Run) float64 { return float64(run.PeakRSSBytes) })
		if ok {
			xs, ys = append(xs, float64(l)), append(ys, m)
		}
	}
	return Slope(xs, ys)
}
