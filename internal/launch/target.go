package launch

import (
	"time"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
)

// WatchdogMeaning is what a watchdog cap means, for every place that says
// a run used one.
const WatchdogMeaning = "The watchdog kills a target when a sample reaches the cap, so its peak can overshoot the cap by what grows within one sample interval"

// Usage is the target's cgroup for the sampler (nil without one): its
// processes are the target, however they were started.
func (p *Process) Usage() sample.Usage {
	if p.Cgroup == nil {
		return nil
	}
	return p.Cgroup
}

// Memory is the target's memory now in the one measure its peak is read
// in: a container's (or a server attached by cgroup) cgroup charge, else
// sample.Sample.Memory of its processes. Idle and after-flood readings are
// this.
func (p *Process) Memory() int64 {
	if p.kind.byCgroup(p) && p.Cgroup != nil {
		if n, err := p.Cgroup.Usage(); err == nil {
			return n
		}
	}
	return sample.Once(p.PID(), p.Usage()).Memory
}

// Peak is a run's peak and its source, from what the samplers saw over
// the run and how the target (and any process chaos replaced, folded into
// ex) ended: the one measure of the target's memory at its highest, read
// from the kernel where it keeps one.
func (p *Process) Peak(sum sample.Summary, ex Exit) (int64, result.PeakSource) {
	return p.kind.peak(p, sum, ex)
}

// LimitBy says how a memory limit is enforced on the target: by its
// cgroup when it has one, else by the watchdog, with the reason
// (cgroups says why none could be made, when it made none at all).
func (p *Process) LimitBy(limit int64, cgroups *cgroup.Maker) (result.LimitBy, string) {
	switch {
	case limit <= 0:
		return result.LimitNone, ""
	case p.Cgroup != nil && p.Cgroup.Scope != "":
		return result.LimitSystemdScope, ""
	case p.Cgroup != nil:
		return result.LimitCgroup, ""
	case p.CgroupErr != nil && cgroups.Available():
		return result.LimitWatchdog, p.CgroupErr.Error() + ". " + WatchdogMeaning
	}
	return result.LimitWatchdog, cgroups.Why() + ". " + WatchdogMeaning
}

// OOMKills is the kernel's count of OOM kills in the target's cgroup over
// the run: the larger of what the sampler read while it went on (a
// container's own cgroup, and its count on v1, leave with the container)
// and what was read at the end — except for an attached target, whose
// cgroup counts kills from before the harness came: its end reading,
// less the count at attach, is the level's.
func (p *Process) OOMKills(sum sample.Summary, ex Exit) int64 { return p.kind.oomKills(sum, ex) }

// Describe adds to a run what is particular to the target's kind: how an
// attached server was found and its peak reset, a container's engine and
// image.
func (p *Process) Describe(run *result.Run, ex Exit) { p.kind.describe(p, run, ex) }

// Abort is closed a moment after stop is, for a container target (nil for
// the others): a container's published port can keep connections open with
// nothing behind them, which would hold every client until the grace ran
// out; its last bytes in flight need the moment.
func (p *Process) Abort(stop <-chan struct{}) <-chan struct{} {
	if !p.kind.lingers() || stop == nil {
		return nil
	}
	dead := make(chan struct{})
	go func() {
		<-stop
		time.Sleep(time.Second)
		close(dead)
	}()
	return dead
}
