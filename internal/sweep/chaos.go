package sweep

import (
	"context"
	"sync"
	"time"

	"github.com/floodharness/harness/internal/launch"
	"github.com/floodharness/harness/internal/sample"
)

// restarter is chaos.restart_after: once, that long into the flood, it
// kills the target's process group and starts a fresh process on the same
// port, sampling it in turn and handing it to started. Clients see the gap
// as failed or broken requests (resumed, with client.resume).
type restarter struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	p        *launch.Process
	smp      *sample.Sampler // nil once stopped and not replaced
	before   sample.Summary  // what the samplers of killed processes saw
	exits    []launch.Exit   // how the killed processes ended
	restarts int
	gap      time.Duration // from the kill until the new process was healthy
	err      error
}

func startRestarter(ctx context.Context, after time.Duration, spec launch.Spec, p *launch.Process, smp *sample.Sampler, opts sample.Options, started func(*launch.Process)) *restarter {
	ctx, cancel := context.WithCancel(ctx)
	r := &restarter{cancel: cancel, done: make(chan struct{}), p: p, smp: smp}
	go func() {
		defer close(r.done)
		select {
		case <-time.After(after):
		case <-ctx.Done():
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		start := time.Now()
		r.p.Kill()
		<-r.p.Done()
		r.before = merge(r.before, r.smp.Stop())
		r.smp = nil
		ex, _ := r.p.Stop() // reap it, remove its cgroup
		r.exits = append(r.exits, ex)
		spec.Port, spec.Label = r.p.Port, spec.Label+"-restart"
		np, err := launch.Start(ctx, spec)
		if err != nil {
			r.err = err // the rest of the flood meets a closed port
			return
		}
		r.gap, r.restarts = time.Since(start), r.restarts+1
		started(np)
		// The series goes on in the same file, on the same clock.
		opts.PID, opts.Cgroup, opts.Continue = np.PID(), nil, true
		if np.Cgroup != nil {
			opts.Cgroup = np.Cgroup // the killed process's cgroup is gone
		}
		r.p, r.smp = np, sample.Start(opts)
	}()
	return r
}

// finish stops the chaos (if it has not struck yet) and returns the
// process now serving and what all samplers saw.
func (r *restarter) finish() (*launch.Process, sample.Summary) {
	r.cancel()
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	sum := r.before
	if r.smp != nil {
		sum = merge(sum, r.smp.Stop())
		r.smp = nil
	}
	return r.p, sum
}

// merge combines what two samplers saw, one after the other.
func merge(a, b sample.Summary) sample.Summary {
	out := b
	if a.Peak.RSS > b.Peak.RSS {
		out.Peak = a.Peak
	}
	out.HWM = max(a.HWM, b.HWM)
	out.Anon = max(a.Anon, b.Anon)
	out.Cgroup = max(a.Cgroup, b.Cgroup)
	if a.Memory > b.Memory {
		out.Memory, out.AtPeak = a.Memory, a.AtPeak
	}
	out.Died = a.Died + b.Died
	out.Samples = a.Samples + b.Samples
	return out
}
