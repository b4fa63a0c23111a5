// Package loadcmd is the `load` command, offered by both harness and the
// lean harness-load: its flags, mapped to load.Options, one flood with the
// built-in driver, and what the client saw, printed or as JSON with the
// field names of a results.json run. It links the load client alone.
package loadcmd

import (
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/header"
	"github.com/floodharness/harness/internal/load"
	"github.com/floodharness/harness/internal/loopback"
	"github.com/floodharness/harness/internal/request"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/units"
)

// loadFlags are `load`'s flags; Options is filled from them.
type loadFlags struct {
	options    load.Options
	validate   string
	readRate   units.Bytes
	abortAfter units.Bytes
	recvBuffer units.Bytes
	writeRate  units.Bytes
	sendBuffer units.Bytes
	asJSON     bool
	request    request.Flags
}

// Command is `load`: flood one URL and print what the client saw.
func Command() *cli.Command {
	var f loadFlags
	o := &f.options
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.IntVar(&o.Concurrency, "c", 16, "concurrent clients (open model: most requests in flight)")
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "how long to flood")
	fs.IntVar(&o.Total, "n", 0, "stop after this many requests in all (0: run for -d)")
	fs.Float64Var(&o.Rate, "rate", 0, "open model: requests per second, latency from the intended send time")
	fs.StringVar(&f.validate, "validate", string(result.CheckNone), "check bodies while streaming: "+joinChecks())
	fs.StringVar(&o.Rows, "rows", "", "validate json: the path of the array whose elements are the rows, e.g. data or results.0.series.0.values")
	fs.Var(&f.readRate, "read-rate", "read each response at most this many bytes per second (e.g. 2MiB)")
	fs.Var(&f.abortAfter, "abort-after", "hang up after this many body bytes (e.g. 1MiB)")
	fs.Var(&f.recvBuffer, "recv-buffer", "SO_RCVBUF per connection (e.g. 64KiB)")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "longest wait for the next byte")
	fs.DurationVar(&o.Grace, "grace", 5*time.Second, "time for requests in flight to finish after -d")
	fs.Var(&f.writeRate, "write-rate", "send each request body at most this many bytes per second (e.g. 1MiB: slow uploaders)")
	fs.Var(&f.sendBuffer, "send-buffer", "SO_SNDBUF per connection (e.g. 64KiB)")
	f.request.Register(fs)
	fs.BoolVar(&f.asJSON, "json", false, "print the result as JSON (the field names of a results.json run)")
	fs.IntVar(&f.options.SourceBase, "source-base", 0, "dial a loopback target from 127.0.0.(1+N) on: several client processes side by side, each with source addresses of its own")
	return &cli.Command{
		FS:       fs,
		Usage:    "flood one URL ad hoc (loopback only) and print what the client saw",
		Operands: "URL",
		Run:      func(e *cli.Env, args []string) error { return runLoad(e, f, args) },
	}
}

// requestOptions sets what each request sends from the request flags:
// ${NAME} in a header is read from the environment (unset: an error).
func requestOptions(o *load.Options, r request.Flags, lookup func(string) (string, bool)) error {
	o.Method = strings.ToUpper(r.Method)
	if err := request.CheckMethod(o.Method); err != nil {
		return fmt.Errorf("--method: %w", err)
	}
	o.Header = http.Header{}
	for _, h := range r.Headers {
		name, value, err := header.Parse(h)
		if err != nil {
			return fmt.Errorf("--header %w", err)
		}
		if value, err = header.Lookup(value, lookup); err != nil {
			return fmt.Errorf("--header %s: %w", name, err)
		}
		o.Header.Add(name, value)
	}
	if r.ContentType != "" {
		o.Header.Set("Content-Type", r.ContentType)
	}
	n, err := request.Bodies(r.Body != "", r.BodyFile != "", r.BodySizeSet)
	if err != nil {
		return fmt.Errorf("give one of --body, --body-file and --body-size")
	}
	switch {
	case r.Body != "":
		o.Body.Data = []byte(r.Body)
	case r.BodyFile != "":
		if _, err := os.Stat(r.BodyFile); err != nil {
			return fmt.Errorf("--body-file: %w", err)
		}
		o.Body.File = r.BodyFile
	case r.BodySizeSet:
		o.Body.Size = int64(r.BodySize)
	}
	if err := request.CheckBodyMethod(o.Method); n > 0 && err != nil {
		return fmt.Errorf("--method: %w", err)
	}
	o.Method = request.Method(o.Method, n > 0)
	o.Compressed = r.Compressed
	return nil
}

func joinChecks() string {
	var s []string
	for _, c := range result.BodyChecks() {
		s = append(s, string(c))
	}
	return strings.Join(s, "|")
}

// LoadReport is what `load --json` prints: the client's figures under the
// names a results.json run gives them, and two derived from them.
type LoadReport struct {
	URL         string `json:"url"`
	Concurrency int    `json:"concurrency"`
	result.Client
	MBps      float64 `json:"mb_per_s"`
	CPUSPerGB float64 `json:"client_cpu_s_per_gb"`
}

func runLoad(e *cli.Env, f loadFlags, args []string) error {
	if len(args) != 1 {
		return cli.UsageErrorf("want one URL, got %d arguments", len(args))
	}
	o := f.options
	o.URL = args[0]
	o.Validate = result.BodyCheck(f.validate)
	o.ReadRate, o.AbortAfter, o.RecvBuffer = int64(f.readRate), int64(f.abortAfter), int(f.recvBuffer)
	o.WriteRate, o.SendBuffer = int64(f.writeRate), int(f.sendBuffer)
	if err := loopback.CheckURL(o.URL, false); err != nil {
		return cli.UsageErrorf("%w", err)
	}
	if !slices.Contains(result.BodyChecks(), o.Validate) {
		return cli.UsageErrorf("--validate %q: want %s", f.validate, joinChecks())
	}
	if o.Concurrency < 1 || o.Duration <= 0 || o.Total < 0 || o.Rate < 0 {
		return cli.UsageErrorf("want -c ≥ 1, -d > 0, -n ≥ 0 and --rate ≥ 0")
	}
	if err := requestOptions(&o, f.request, e.LookupEnv); err != nil {
		return cli.UsageErrorf("%w", err)
	}
	h := load.RaiseFileLimit(uint64(o.Concurrency + load.Reserve))
	var ip net.IP
	if u, err := url.Parse(o.URL); err == nil {
		ip = net.ParseIP(u.Hostname()).To4()
	}
	if err := h.Check(o.Concurrency, ip != nil && ip.IsLoopback()); err != nil {
		return cli.UsageErrorf("-c: %w", err)
	}
	o.Sources = h.SourcesFor(o.Concurrency)
	if o.SourceBase < 0 || o.SourceBase > 1<<20 {
		return cli.UsageErrorf("--source-base %d: want 0 to %d", o.SourceBase, 1<<20)
	}
	c, err := load.Drive(e.Ctx, load.Builtin{}, load.Job{Options: o})
	if err != nil {
		return cli.UsageErrorf("%w", err)
	}
	rep := LoadReport{URL: o.URL, Concurrency: o.Concurrency, Client: c, MBps: c.MBps()}
	if c.BytesReceived > 0 {
		rep.CPUSPerGB = c.ClientCPUSeconds / (float64(c.BytesReceived) / 1e9)
	}
	if f.asJSON {
		enc := json.NewEncoder(e.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep) // maps are written in key order: stable
	}
	printLoad(e, rep)
	return nil
}

func printLoad(e *cli.Env, r LoadReport) {
	w := e.Stdout
	fmt.Fprintf(w, "%s  c=%d  %.2fs\n", r.URL, r.Concurrency, r.DurationS)
	fmt.Fprintf(w, "  requests  %d (ok %d, failed %d, aborted %d, cut off %d)\n", r.Requests, r.OK, r.Failed, r.Aborted, r.CutOff)
	if len(r.Errors) > 0 {
		kinds := make([]string, 0, len(r.Errors))
		for k := range r.Errors {
			kinds = append(kinds, k)
		}
		slices.Sort(kinds)
		for i, k := range kinds {
			kinds[i] = fmt.Sprintf("%s %d", k, r.Errors[k])
		}
		fmt.Fprintf(w, "  failed    %s\n", strings.Join(kinds, ", "))
	}
	fmt.Fprintf(w, "  received  %.1f MB, %.1f MB/s", float64(r.BytesReceived)/1e6, r.MBps)
	if r.Rows > 0 {
		fmt.Fprintf(w, ", %d rows validated", r.Rows)
	}
	l := r.LatencyMs
	fmt.Fprintf(w, "\n  latency   p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n", l.P50, l.P90, l.P99, l.Max)
	fmt.Fprintf(w, "  client    %.2f CPU-s (%.2f CPU-s/GB), peak RSS %.1f MiB", r.ClientCPUSeconds, r.CPUSPerGB, units.MiB(r.ClientPeakRSSBytes))
	if r.Connected > 0 && r.ClientBaseRSSBytes > 0 {
		fmt.Fprintf(w, " (%.1f KiB per connection above %.1f MiB at the start)", float64(r.ClientPeakRSSBytes-r.ClientBaseRSSBytes)/1024/float64(r.Connected), units.MiB(r.ClientBaseRSSBytes))
	}
	fmt.Fprintln(w)
	if r.Connected > 0 {
		fmt.Fprintf(w, "  ramp      %d of %d clients answered, the last %.2f s after the start (at most %d connections opened and not yet answered)\n", r.Connected, r.Concurrency, r.RampS, load.MaxDialing)
	}
}
