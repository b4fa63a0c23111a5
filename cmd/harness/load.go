package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/load"
	"github.com/floodharness/harness/internal/units"
	"github.com/floodharness/harness/internal/usage"
)

type loadOpts struct {
	o          load.Options
	readRate   units.Bytes
	abortAfter units.Bytes
	recvBuffer units.Bytes
	asJSON     bool
}

func loadCmd(_ *env) *command {
	var o loadOpts
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.IntVar(&o.o.Concurrency, "c", 16, "concurrent clients (open model: most requests in flight)")
	fs.DurationVar(&o.o.Duration, "d", 10*time.Second, "how long to flood")
	fs.IntVar(&o.o.Total, "n", 0, "stop after this many requests in all (0: run for -d)")
	fs.Float64Var(&o.o.Rate, "rate", 0, "open model: requests per second, latency from the intended send time")
	fs.StringVar(&o.o.Validate, "validate", "none", "check bodies while streaming: none|json|ndjson|csv")
	fs.Var(&o.readRate, "read-rate", "read each response at most this many bytes per second (e.g. 2MiB)")
	fs.Var(&o.abortAfter, "abort-after", "hang up after this many body bytes (e.g. 1MiB)")
	fs.Var(&o.recvBuffer, "recv-buffer", "SO_RCVBUF per connection (e.g. 64KiB)")
	fs.DurationVar(&o.o.Timeout, "timeout", 30*time.Second, "longest wait for the next byte")
	fs.DurationVar(&o.o.Grace, "grace", 5*time.Second, "time for requests in flight to finish after -d")
	fs.BoolVar(&o.asJSON, "json", false, "print the result as JSON")
	return &command{
		fs:    fs,
		usage: "flood one URL ad hoc (loopback only) and print what the client saw",
		fn:    func(e *env, args []string) error { return runLoad(e, o, args) },
	}
}

// loadReport is what `harness load --json` prints.
type loadReport struct {
	URL          string             `json:"url"`
	Concurrency  int                `json:"concurrency"`
	Requests     int64              `json:"requests"`
	OK           int64              `json:"ok"`
	Failed       int64              `json:"failed"`
	Errors       map[string]int64   `json:"errors"`
	Aborted      int64              `json:"aborted"`
	CutOff       int64              `json:"cut_off"`
	Bytes        int64              `json:"bytes"`
	Rows         int64              `json:"rows"`
	DurationS    float64            `json:"duration_s"`
	MBps         float64            `json:"mb_per_s"`
	LatencyMs    map[string]float64 `json:"latency_ms"`
	CPUS         float64            `json:"client_cpu_s"`
	CPUSPerGB    float64            `json:"client_cpu_s_per_gb"`
	PeakRSSBytes int64              `json:"client_peak_rss_bytes"`
}

func runLoad(e *env, o loadOpts, args []string) error {
	if len(args) != 1 {
		return usageErrorf("want one URL, got %d arguments", len(args))
	}
	o.o.URL = args[0]
	o.o.ReadRate, o.o.AbortAfter, o.o.RecvBuffer = int64(o.readRate), int64(o.abortAfter), int(o.recvBuffer)
	if o.o.AbortAfter > 0 {
		o.o.AbortFraction = 1
	}
	if err := load.CheckLoopback(o.o.URL, false); err != nil {
		return usageErrorf("%w", err)
	}
	if o.o.Concurrency < 1 || o.o.Duration <= 0 || o.o.Total < 0 || o.o.Rate < 0 {
		return usageErrorf("want -c ≥ 1, -d > 0, -n ≥ 0 and --rate ≥ 0")
	}
	usage.ResetPeakRSS()
	before := usage.Self()
	res, err := load.Run(e.ctx, o.o)
	if err != nil {
		return usageErrorf("%w", err)
	}
	cpu := usage.Self().Sub(before)
	rep := loadReport{
		URL: o.o.URL, Concurrency: o.o.Concurrency,
		Requests: res.Requests, OK: res.OK, Failed: res.Failed, Errors: res.Errors,
		Aborted: res.Aborted, CutOff: res.CutOff, Bytes: res.Bytes, Rows: res.Rows,
		DurationS: res.Elapsed.Seconds(), CPUS: cpu.Seconds(),
		LatencyMs: map[string]float64{},
	}
	if rep.DurationS > 0 {
		rep.MBps = float64(res.Bytes) / rep.DurationS / 1e6
	}
	if res.Bytes > 0 {
		rep.CPUSPerGB = cpu.Seconds() / (float64(res.Bytes) / 1e9)
	}
	for name, q := range map[string]float64{"p50": 0.5, "p90": 0.9, "p99": 0.99} {
		rep.LatencyMs[name] = float64(res.Latency.Quantile(q).Microseconds()) / 1000
	}
	rep.LatencyMs["max"] = float64(res.Latency.Max().Microseconds()) / 1000
	rep.PeakRSSBytes = usage.PeakRSS()
	if o.asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printLoad(e, rep)
	return nil
}

func printLoad(e *env, r loadReport) {
	w := e.stdout
	fmt.Fprintf(w, "%s  c=%d  %.2fs\n", r.URL, r.Concurrency, r.DurationS)
	fmt.Fprintf(w, "  requests  %d (ok %d, failed %d, aborted %d, cut off %d)\n", r.Requests, r.OK, r.Failed, r.Aborted, r.CutOff)
	if len(r.Errors) > 0 {
		var kinds []string
		for k, n := range r.Errors {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
		fmt.Fprintf(w, "  failed    %s\n", strings.Join(kinds, ", "))
	}
	fmt.Fprintf(w, "  received  %.1f MB, %.1f MB/s", float64(r.Bytes)/1e6, r.MBps)
	if r.Rows > 0 {
		fmt.Fprintf(w, ", %d rows validated", r.Rows)
	}
	fmt.Fprintf(w, "\n  latency   p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.LatencyMs["p50"], r.LatencyMs["p90"], r.LatencyMs["p99"], r.LatencyMs["max"])
	fmt.Fprintf(w, "  client    %.2f CPU-s (%.2f CPU-s/GB), peak RSS %.1f MiB\n", r.CPUS, r.CPUSPerGB, float64(r.PeakRSSBytes)/(1<<20))
}
