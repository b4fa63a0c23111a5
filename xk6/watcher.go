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
		// The kernel's own peak (VmHWM) where it can be read, else the sampled maximum.
		w.best = max(w.best, smp.RSS, smp.HWM)
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
