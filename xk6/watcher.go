package flood

import (
	"context"
	"time"

	"go.k6.io/k6/metrics"

	"github.com/floodharness/harness/internal/sample"
)

// memoryWatch samples one process tree and pushes its memory into k6's metric
// stream until the context of the VU that started it ends.
type memoryWatch struct {
	rss, peak *metrics.Metric
	tags      *metrics.TagSet
	out       chan<- metrics.SampleContainer
	best      int64
}

func (w *memoryWatch) start(ctx context.Context, pid int, interval time.Duration) {
	s := sample.Start(sample.Options{PID: pid, Interval: interval, OnSample: func(smp sample.Sample) {
		w.best = peakOf(w.best, smp)
		now := time.Now()
		metrics.PushIfNotDone(ctx, w.out, metrics.ConnectedSamples{Samples: []metrics.Sample{
			{TimeSeries: metrics.TimeSeries{Metric: w.rss, Tags: w.tags}, Time: now, Value: float64(smp.RSS)},
			{TimeSeries: metrics.TimeSeries{Metric: w.peak, Tags: w.tags}, Time: now, Value: float64(w.best)},
		}, Tags: w.tags, Time: now})
	}})
	go func() {
		<-ctx.Done()
		s.Stop()
	}()
}

// peakOf is the peak so far after smp: for one process the kernel's own
// high-water mark (VmHWM), which no sampling misses; for several, the
// highest sampled sum of their RSS — their VmHWMs summed would overstate,
// since the processes do not peak at the same moment.
func peakOf(best int64, smp sample.Sample) int64 {
	if smp.Procs <= 1 {
		return max(best, smp.RSS, smp.HWM)
	}
	return max(best, smp.RSS)
}
