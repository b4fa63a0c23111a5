package load

import (
	"context"
	"runtime/debug"
	"time"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/usage"
)

// Driver produces one level's load against a target and says what the
// client side saw. The built-in client (Builtin) and k6 (internal/k6) are
// the drivers there are; a new one implements this and is chosen by the
// scenario's driver key.
type Driver interface {
	Drive(ctx context.Context, job Job) (result.Client, error)
}

// Job is one level's load, as every driver gets it.
type Job struct {
	// Options is what to send and how; the built-in client reads all of
	// it, other drivers the URL, concurrency and durations.
	Options
	// Target names the target (k6 gets it as TARGET_NAME) and Port is the
	// port it listens on.
	Target string
	Port   int
	// Dir and LogName are where a driver that writes a log of its own puts
	// it: Dir/LogName.log, recorded as LogName.log (relative to the run
	// directory); k6 writes its summary beside it.
	Dir, LogName string
}

// Builtin is the harness's own client (Run).
type Builtin struct{}

var _ Driver = Builtin{}

// Drive implements Driver.
func (Builtin) Drive(ctx context.Context, job Job) (result.Client, error) {
	res, err := Run(ctx, job.Options)
	if err != nil {
		return result.Client{}, err
	}
	return res.Client(), nil
}

// Drive runs d and records the harness's own CPU time and peak RSS while
// it ran: how much of the machine producing the load took.
func Drive(ctx context.Context, d Driver, job Job) (result.Client, error) {
	// What an earlier level left in the heap goes back first, so the
	// peak above the start is this level's own.
	debug.FreeOSMemory()
	cpu0 := usage.Self()
	usage.ResetPeakRSS()
	base := usage.RSS()
	c, err := d.Drive(ctx, job)
	c.ClientBaseRSSBytes = base
	c.ClientCPUSeconds = usage.Self().Sub(cpu0).Seconds()
	c.ClientPeakRSSBytes = usage.PeakRSS()
	return c, err
}

// Client is the flood's result as a results.json run records it.
func (r *Result) Client() result.Client {
	c := result.Client{
		Requests: r.Requests, OK: r.OK, Failed: r.Failed, Errors: map[string]int64{},
		Aborted: r.Aborted, CutOff: r.CutOff, Shed: r.Shed,
		BytesReceived: r.Bytes, BytesDecoded: r.Decoded, Logins: r.Logins, Relogins: r.Relogins, Rows: r.Rows, Resumes: r.Resumes, Resent: r.Resent,
		DurationS: r.Elapsed.Seconds(), Protocol: r.Proto, Connected: r.Connected, RampS: r.Ramp.Seconds(),
		LatencyMs: result.Latency{
			P50: ms(r.Latency.Quantile(0.50)), P90: ms(r.Latency.Quantile(0.90)),
			P99: ms(r.Latency.Quantile(0.99)), Max: ms(r.Latency.Max()),
		},
	}
	for k, v := range r.Errors {
		c.Errors[k] = v
	}
	if len(r.ResumedBy) > 0 {
		c.ResumedBy = r.ResumedBy
	}
	c.FailureReasons = r.Reasons
	for name, b := range r.ByName {
		if c.ByRequest == nil {
			c.ByRequest = map[string]result.RequestFigures{}
		}
		bc := b.Client()
		c.ByRequest[name] = result.RequestFigures{Requests: bc.Requests, OK: bc.OK, Failed: bc.Failed, Errors: bc.Errors,
			Aborted: bc.Aborted, CutOff: bc.CutOff, BytesReceived: bc.BytesReceived, LatencyMs: bc.LatencyMs}
	}
	return c
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
