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
		r.before = r.before.Then(r.smp.Stop())
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
		sum = sum.Then(r.smp.Stop())
		r.smp = nil
	}
	return r.p, sum
}
