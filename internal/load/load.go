package load

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/floodharness/harness/internal/header"
	"github.com/floodharness/harness/internal/loopback"
	"github.com/floodharness/harness/internal/request"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/validate"
)

// Options describe one flood. The zero value is not runnable: URL,
// Concurrency and Duration are required.
type Options struct {
	// URL is requested by every client.
	URL string
	// Method is the request's method (default GET); Header is sent with
	// every request, and Body is each request's body.
	Method string
	Header http.Header
	Body   Body
	// Mix, when set, replaces URL, Method, Header, Body and Validate: each
	// request is one of these, picked by weight, and the result counts
	// each by name beside the totals.
	Mix []Weighted
	// Concurrency is the number of clients (closed model) or the most
	// requests in flight at once (open model).
	Concurrency int
	// Duration is the measured period, after Warmup.
	Duration time.Duration
	// Warmup is flooded first; requests started in it are not counted.
	Warmup time.Duration
	// Requests, when positive, is how many requests each client sends.
	Requests int
	// Total, when positive, is how many requests all clients send together.
	Total int
	// Grace lets requests in flight at the end finish; those still running
	// after it are cancelled and counted as cut_off, not as failures.
	Grace time.Duration
	// UntilAnswered, when positive, keeps a closed-model flood going past
	// Duration until every client has had one whole answer (any outcome
	// but cut off), for at most this much longer: a server whose answers
	// outlast the level is measured with them in flight, and finishing.
	UntilAnswered time.Duration
	// Rate, when positive, selects the open model: arrivals per second at
	// fixed intervals, latency measured from each intended send time.
	Rate float64
	// ReadRate limits each connection's reading, in bytes per second.
	ReadRate int64
	// Login, when set, is sent by each client before its first request
	// (and again, once, after a 401): ${login.NAME} in request headers is
	// what it answered, and the cookies it set are kept, each client its
	// own.
	Login *Request
	// Compressed asks for compressed answers (Accept-Encoding:
	// request.AcceptEncoding, unless the request sets its own) and decodes them as
	// they stream: bytes on the wire in Bytes, decoded in Decoded.
	Compressed bool
	// AbortAfter makes the last AbortFraction of clients hang up after
	// this many body bytes; a fraction of 0 means every client. The last:
	// clients connect in order, and the first to arrive are the first an
	// admission gate lets in, so aborting ones must not take its places.
	AbortAfter    int64
	AbortFraction float64
	// RecvBuffer sets SO_RCVBUF on every connection when positive.
	RecvBuffer int
	// WriteRate limits how fast each request's body is sent, bytes per
	// second (slow uploaders); SendBuffer sets SO_SNDBUF when positive.
	WriteRate  int64
	SendBuffer int
	// TLS is the client's configuration for an https URL; HTTP is the
	// protocol: "1.1" (default), "2" (over TLS) or "h2c" (cleartext,
	// prior knowledge). HTTP/2 clients share connections, a stream each.
	TLS  *tls.Config
	HTTP string
	// Sources, above 1, spreads connections to an IPv4 loopback target
	// over that many source addresses (127.0.0.1, .2, …): past the
	// ephemeral ports of one (SourcesFor picks it from the level).
	Sources int
	// SourceBase moves the first source address to 127.0.0.(1+SourceBase):
	// several client processes side by side (each within its own open
	// files) then dial from addresses of their own, each with the whole
	// ephemeral port range.
	SourceBase int
	// Validate checks bodies while streaming: none, json, ndjson or csv;
	// Rows, for json, is the path of the array whose elements are the rows
	// ("data"; "": the first array not inside another).
	Validate result.BodyCheck
	Rows     string
	// Resume continues a response that broke off (truncated, stalled, or
	// ended by an error record) with ?since=<last id seen>, until the
	// export is complete, and checks that every row id arrives exactly
	// once. It needs Validate, which reads the ids.
	Resume bool
	// Timeout is the longest wait for the next byte, and for a connection
	// to be made (default 30s).
	Timeout time.Duration
	// ForgiveResends does not count a request that died before its
	// response and was sent again as a failure (it is still counted in
	// Result.Resent).
	ForgiveResends bool
	// AllowRemote permits a non-loopback host. Tests never set it.
	AllowRemote bool
	// Stop, when closed, starts no new requests; those in flight go on to
	// their own end. The sweep closes it when the target dies.
	Stop <-chan struct{}
	// Abort, when closed, also cuts off the requests in flight: set where
	// a dead target cannot end them (a container's published port can
	// leave connections open with no one behind them).
	Abort <-chan struct{}
	// Progress, when set, is called about once a second with the totals so far.
	Progress func(Progress)
}

// Progress is a running total during a flood.
type Progress struct {
	Elapsed  time.Duration
	Requests int64
	Bytes    int64
}

// Result is what one flood measured. Requests = OK + Failed + CutOff + Aborted.
type Result struct {
	Requests int64
	OK       int64
	Failed   int64
	// Errors counts failures by kind: status_NNN, truncated, invalid_body,
	// error_record, stalled, connect.
	Errors  map[string]int64
	Aborted int64 // hung up on purpose (abort_after_bytes)
	CutOff  int64 // still running when the grace period ended
	Bytes   int64 // body bytes received in counted requests (on the wire)
	// Decoded counts the body bytes compressed answers decoded to
	// (client.compressed, or a checked body with a Content-Encoding).
	Decoded int64
	// Logins counts the clients' logins (Options.Login), and Relogins
	// those after a 401.
	Logins, Relogins int64
	Rows             int64 // rows seen by the validator
	Resumes          int64 // follow-up requests that continued a broken export
	// Resent counts requests the transport sent again because their
	// kept-alive connection died before the response began.
	Resent int64
	// Shed counts the status_503 failures that carried Retry-After: load
	// the server turned away by design (an admission gate's reject mode).
	Shed int64
	// ResumedBy counts the breaks that were resumed, by kind (truncated,
	// stalled, error_record, connect, status_NNN).
	ResumedBy map[string]int64
	// Reasons are the first few distinct reasons of failures.
	Reasons []result.FailureReason
	// Elapsed is the measured period, from the end of warmup until the last
	// counted request ended.
	Elapsed time.Duration
	Latency Histogram // of OK requests, to the last body byte
	// Proto is the protocol the server answered with ("HTTP/2.0").
	Proto string
	// Connected counts the clients whose connection the server answered,
	// and Ramp is when (after the start) the last of them was: at most
	// MaxDialing connections are opened and not yet answered, so a
	// server's accept queue is not flooded with SYNs it will drop.
	// HTTP/1.1 (the client's own) only.
	Connected int64
	Ramp      time.Duration
	// ByName is each mix request's share of the figures above (nil
	// without a mix).
	ByName map[string]*Result
}

// Weighted is one request of a mix.
type Weighted struct {
	Name   string
	Weight float64
	Request
}

// Request is one kind of request a client sends.
type Request struct {
	URL, Method string
	Header      http.Header
	Body        Body
	Validate    result.BodyCheck
	Rows        string // validate json: the rows array's path
}

// spec is a Request ready to send: its URL parsed, its upload digest made.
type spec struct {
	Request
	name string
	u    *url.URL
	sent digest // validate upload: what every request's body is
}

// Run floods o.URL and returns what it measured. It stops by itself after
// Warmup + Duration (+ UntilAnswered) + Grace at the latest, or when ctx
// is done (then the result covers what finished).
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Concurrency < 1 || o.Duration <= 0 {
		return nil, fmt.Errorf("flood needs concurrency ≥ 1 and a positive duration, got %d and %v", o.Concurrency, o.Duration)
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	f := &flood{o: o}
	mix := o.Mix
	if len(mix) == 0 {
		mix = []Weighted{{Weight: 1, Request: Request{URL: o.URL, Method: o.Method, Header: o.Header, Body: o.Body, Validate: o.Validate, Rows: o.Rows}}}
	}
	for _, w := range mix {
		if o.Compressed && w.Header.Get("Accept-Encoding") == "" {
			w.Header = w.Header.Clone()
			if w.Header == nil {
				w.Header = http.Header{}
			}
			w.Header.Set("Accept-Encoding", request.AcceptEncoding)
		}
		sp, err := newSpec(w, o)
		if err != nil {
			return nil, err
		}
		f.specs, f.weights = append(f.specs, sp), append(f.weights, w.Weight)
	}
	if err := f.loginSetup(); err != nil {
		return nil, err
	}
	f.readSize = readSize(o)
	f.pool.New = func() any { b := make([]byte, f.readSize); return &b }
	f.start = time.Now()
	f.measureFrom = f.start.Add(o.Warmup)
	f.stopAt = f.measureFrom.Add(o.Duration)
	f.ended = make(chan struct{})
	// Requests still running at the end of grace are cut off.
	reqCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.end(reqCtx, cancel)
	if o.Abort != nil {
		go func() {
			select {
			case <-o.Abort:
				cancel()
			case <-reqCtx.Done():
			}
		}()
	}
	f.dialer = newDialer(o)
	f.dialing = make(chan struct{}, MaxDialing)
	if o.HTTP == "2" || o.HTTP == "h2c" {
		f.client = &http.Client{Transport: f.transport()}
		defer f.client.CloseIdleConnections()
	}

	stopProgress := f.reportProgress()
	results := make([]*Result, o.Concurrency)
	var wg sync.WaitGroup
	var arrivals chan time.Time
	if o.Rate > 0 {
		arrivals = make(chan time.Time)
		go f.schedule(ctx, arrivals)
	}
	for i := range o.Concurrency {
		results[i] = &Result{Errors: map[string]int64{}, ResumedBy: map[string]int64{}, ByName: map[string]*Result{}}
		wg.Go(func() { f.worker(ctx, reqCtx, i, arrivals, results[i]) })
	}
	wg.Wait()
	stopProgress()

	total := &Result{Errors: map[string]int64{}, ResumedBy: map[string]int64{}}
	if len(o.Mix) > 0 {
		total.ByName = map[string]*Result{}
	}
	for _, r := range results {
		total.merge(r)
	}
	total.Elapsed = time.Duration(f.lastEnd.Load()) - f.measureFrom.Sub(f.start)
	total.Elapsed = max(total.Elapsed, 0)
	if p := f.proto.Load(); p != nil {
		total.Proto = *p
	}
	total.Connected, total.Ramp = f.connected.Load(), time.Duration(f.ramp.Load())
	return total, nil
}

type flood struct {
	o           Options
	client      *http.Client // HTTP/2 only: HTTP/1.1 is each client's own (h1)
	dialer      *net.Dialer
	dials       atomic.Uint64 // connections made, for source spreading
	dialing     chan struct{} // a slot per dial in flight (MaxDialing)
	connected   atomic.Int64  // clients whose first connection opened
	ramp        atomic.Int64  // offset from start of the last first connection
	start       time.Time
	measureFrom time.Time
	stopAt      time.Time     // the earliest end of the measured period
	ended       chan struct{} // closed when no new request may start
	answered    atomic.Int64  // clients with one whole answer (UntilAnswered)
	lastEnd     atomic.Int64  // offset from start of the last counted request's end
	requests    atomic.Int64  // for progress
	bytes       atomic.Int64
	claimed     atomic.Int64           // against Options.Total
	specs       []*spec                // what clients send: one, or a mix
	weights     []float64              // each spec's weight
	proto       atomic.Pointer[string] // the first response's protocol
	readSize    int                    // a paced client's read (readSize)
	loginNames  []string               // the ${login.NAME}s the requests use
	loginOnce   sync.Once
	loginHTTP   *http.Client
	pool        sync.Pool // paced clients' read buffers, readSize each
}

// newSpec checks a request and makes it ready to send.
func newSpec(w Weighted, o Options) (*spec, error) {
	name := w.Name
	if name == "" {
		name = "request"
	}
	if err := loopback.CheckURL(w.URL, o.AllowRemote); err != nil {
		return nil, err
	}
	u, err := url.Parse(w.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if w.Weight <= 0 || math.IsNaN(w.Weight) || math.IsInf(w.Weight, 0) {
		return nil, fmt.Errorf("%s: weight %v: want more than 0", name, w.Weight)
	}
	if _, err := validate.New(w.Validate, validate.Options{Rows: w.Rows}); err != nil {
		return nil, err
	}
	if o.Resume && (w.Validate == "" || w.Validate == result.CheckNone) {
		return nil, errors.New("resume needs validate json, ndjson or csv: the row ids say where to continue")
	}
	sp := &spec{Request: w.Request, name: w.Name, u: u}
	if sp.Method == "" {
		sp.Method = http.MethodGet
	}
	if w.Validate == result.CheckUpload {
		if w.Body.empty() {
			return nil, fmt.Errorf("%s: validate upload needs a request body", name)
		}
		if sp.sent, err = w.Body.digest(); err != nil {
			return nil, err
		}
	}
	return sp, nil
}

// pick chooses a request by weight (the only one without a mix).
func (f *flood) pick(rnd *rand.Rand) *spec {
	if len(f.specs) == 1 {
		return f.specs[0]
	}
	var total float64
	for _, w := range f.weights {
		total += w
	}
	x := rnd.Float64() * total
	for i, w := range f.weights {
		if x < w {
			return f.specs[i]
		}
		x -= w
	}
	return f.specs[len(f.specs)-1]
}

// dial connects to addr as every client does: from its source address
// (Sources), with the scenario's socket buffers, within the timeout.
func (f *flood) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	dial := f.dialer
	if src := sourceAddr(f.o.Sources, f.o.SourceBase, addr, f.dials.Add(1)-1); src != nil {
		dd := *dial
		dd.LocalAddr = src
		dial = &dd
	}
	return dial.DialContext(ctx, network, addr)
}

// MaxDialing bounds the connections opened and not yet answered. Ten
// thousand clients dialling at once overflow a server's accept queue
// (somaxconn 4096 here: the kernel drops the SYNs, and a dial waits out
// its retransmissions until it times out as connect). A dial completes
// when the kernel queues the connection, not when the server accepts it,
// so a slot is held until the first response's head arrives on it: the
// server has then accepted it, and the ramp says how long that took.
const MaxDialing = 1024

// connect dials for a client's own HTTP/1.1 on a goroutine of its own: a
// dial's deep stack grows that goroutine's, not the client's, which
// sleeps between paced reads for the whole flood (8 KiB each at 10,000
// clients, where 4 would do). It waits for one of MaxDialing slots;
// answered gives it back once the connection's first response head came
// (or the exchange failed), and marks the client's first connection (the
// end of its part of the ramp) when first.
func (f *flood) connect(ctx context.Context, network, addr string, first bool) (c net.Conn, answered func(ok bool), err error) {
	select {
	case f.dialing <- struct{}{}:
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := f.dial(ctx, network, addr)
		ch <- dialed{c, err}
	}()
	d := <-ch
	if d.err != nil {
		<-f.dialing
		return nil, nil, d.err
	}
	return d.c, func(ok bool) {
		<-f.dialing
		if !ok || !first {
			return
		}
		f.connected.Add(1)
		raise(&f.ramp, int64(time.Since(f.start)))
	}, nil
}

// raise sets a to v if v is more.
func raise(a *atomic.Int64, v int64) {
	for {
		if last := a.Load(); last >= v || a.CompareAndSwap(last, v) {
			return
		}
	}
}

// newDialer is every client's dialer: a connection is made within the
// request's timeout (30 s by default), or fails as connect. With 5 s,
// 30,000 readers and their two servers on 2 cores had 72 loopback dials
// time out with no SYN lost: the dialling goroutines waited for a CPU.
func newDialer(o Options) *net.Dialer {
	d := &net.Dialer{Timeout: o.Timeout}
	spread := o.Sources > 1 || o.SourceBase > 0
	if o.RecvBuffer > 0 || o.SendBuffer > 0 || spread {
		d.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) {
				for opt, size := range map[int]int{syscall.SO_RCVBUF: o.RecvBuffer, syscall.SO_SNDBUF: o.SendBuffer} {
					if size > 0 && serr == nil {
						serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, opt, size)
					}
				}
				if spread && serr == nil {
					// A socket bound to a source address takes its port at
					// connect, unique per 4-tuple, as an unbound one does:
					// bound at bind, 15,000 connections from 127.0.0.2 held
					// 15,000 ports that 127.0.0.1's connections then could
					// not use (connect: cannot assign requested address).
					serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
				}
			}); err != nil {
				return err
			}
			return serr
		}
	}
	return d
}

// transport is Go's, for HTTP/2 (over TLS, or h2c): streams share
// connections there, which the client's own HTTP/1.1 (h1) does not do.
func (f *flood) transport() *http.Transport {
	timeout := f.o.Timeout
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := f.dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, timeout: timeout}, nil
		},
		MaxIdleConnsPerHost:   f.o.Concurrency,
		DisableCompression:    true,
		ResponseHeaderTimeout: timeout,
		// A small bufio: reads of the worker's larger buffer then go from the
		// socket straight into it (bufio skips itself for big reads), so
		// body bytes are copied once and a connection costs 8 KiB here.
		ReadBufferSize:  4 << 10,
		WriteBufferSize: 4 << 10,
		TLSClientConfig: f.o.TLS,
	}
	tr.Protocols = new(http.Protocols)
	switch f.o.HTTP {
	case "2":
		tr.Protocols.SetHTTP2(true)
		tr.ForceAttemptHTTP2 = true // a custom dialer turns it off otherwise
	case "h2c":
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return tr
}

// sourceAddr is the local address the n-th connection to addr dials
// from when Sources spreads them: 127.0.0.1, 127.0.0.2, … (all of
// 127.0.0.0/8 is this host's), so one target address can take more
// connections than one source address has ephemeral ports. nil: the
// kernel's choice (spreading off, or a target not on IPv4 loopback).
func sourceAddr(sources, base int, addr string, n uint64) *net.TCPAddr {
	if sources < 2 && base <= 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	ip := net.ParseIP(host).To4()
	if err != nil || ip == nil || !ip.IsLoopback() {
		return nil
	}
	k := uint32(1 + base + int(n%uint64(min(max(sources, 1), MaxSources))))
	return &net.TCPAddr{IP: net.IPv4(127, byte(k>>16), byte(k>>8), byte(k))}
}

// MaxSources bounds how many source addresses a flood spreads over.
const MaxSources = 1 << 16

// readBuffer is each client's one body buffer, reused for every request.
const readBuffer = 32 << 10

// idleConn fails a read that waits longer than timeout for a byte, so a
// stalled response is detected however long the whole body takes.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(p)
}

// end closes f.ended when no new request may start — at the end of the
// measured period, or with UntilAnswered (closed model) once every client
// has had one whole answer after it, or at the bound — and cuts off what
// is still running Grace later.
func (f *flood) end(ctx context.Context, cutOff context.CancelFunc) {
	wait := func(until time.Time) bool {
		t := time.NewTimer(time.Until(until))
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		}
	}
	if !wait(f.stopAt) {
		return
	}
	if f.o.UntilAnswered > 0 && f.o.Rate <= 0 {
		bound := f.stopAt.Add(f.o.UntilAnswered)
		for f.answered.Load() < int64(f.o.Concurrency) && time.Now().Before(bound) {
			if !wait(time.Now().Add(50 * time.Millisecond)) {
				return
			}
		}
	}
	close(f.ended)
	if wait(time.Now().Add(f.o.Grace)) {
		cutOff()
	}
}

// schedule sends intended start times at a fixed rate until the flood ends.
func (f *flood) schedule(ctx context.Context, out chan<- time.Time) {
	defer close(out)
	interval := time.Duration(float64(time.Second) / f.o.Rate)
	for next := f.start; next.Before(f.stopAt); next = next.Add(interval) {
		if d := time.Until(next); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return
			}
		}
		select {
		case out <- next: // if every worker is busy, this waits: the delay counts in latency
		case <-ctx.Done():
			return
		}
	}
}

func (f *flood) worker(ctx, reqCtx context.Context, id int, arrivals <-chan time.Time, res *Result) {
	var buf []byte // a paced client borrows from f.pool for each read
	if f.o.ReadRate <= 0 {
		buf = make([]byte, readBuffer)
	}
	cl := &h1{f: f} // the client's own HTTP/1.1 connection, and its pacing timer
	defer cl.close()
	rnd := rand.New(rand.NewPCG(uint64(id), uint64(f.start.UnixNano())))
	abort := int64(0)
	if frac := f.o.AbortFraction; f.o.AbortAfter > 0 && (frac == 0 || float64(f.o.Concurrency-id) <= math.Round(frac*float64(f.o.Concurrency))) {
		abort = f.o.AbortAfter
	}
	for n := 0; f.o.Requests <= 0 || n < f.o.Requests; n++ {
		intended := time.Now()
		if arrivals != nil {
			var ok bool
			if intended, ok = <-arrivals; !ok {
				return
			}
		}
		if ctx.Err() != nil || closed(f.ended) || closed(f.o.Stop) {
			return
		}
		if f.o.Total > 0 && f.claimed.Add(1) > int64(f.o.Total) {
			return
		}
		counted := !intended.Before(f.measureFrom)
		var resent int64
		sp := f.pick(rnd)
		outcome, nbytes, rows, resumes := f.export(reqCtx, cl, sp, buf, abort, res.ResumedBy, &resent)
		end := time.Now()
		f.requests.Add(1)
		if n == 0 && outcome != result.OutcomeCutOff {
			f.answered.Add(1)
		}
		// What the client noted of this request, taken whether it counts or not.
		reason, resendReason, decoded := cl.takeReason(), cl.takeResendReason(), cl.decoded
		logins, relogins := cl.logins, cl.relogins
		cl.decoded, cl.logins, cl.relogins = 0, 0, 0
		if !counted {
			continue
		}
		raise(&f.lastEnd, int64(end.Sub(f.start)))
		d := done{outcome: outcome, reason: reason, resendReason: resendReason, latency: end.Sub(intended),
			bytes: nbytes, decoded: decoded, rows: rows, resumes: resumes, resent: resent, logins: logins, relogins: relogins}
		res.count(d, f.o.ForgiveResends)
		if sp.name != "" {
			by := res.ByName[sp.name]
			if by == nil {
				by = &Result{Errors: map[string]int64{}, ResumedBy: map[string]int64{}}
				res.ByName[sp.name] = by
			}
			by.count(d, f.o.ForgiveResends)
		}
	}
}

// done is one counted request's figures.
type done struct {
	outcome, reason      string
	resendReason         string // why it was sent again, where it was
	latency              time.Duration
	bytes, decoded, rows int64
	resumes, resent      int64
	logins, relogins     int64
}

// count adds one counted request's figures to r.
func (r *Result) count(d done, forgive bool) {
	outcome, reason, latency := d.outcome, d.reason, d.latency
	r.Requests++
	// A request the transport sent again failed first: each re-send is a
	// request of its own, and the one before it a failure (unless the
	// scenario says re-sends are fine).
	r.Resent += d.resent
	if !forgive && d.resent > 0 {
		r.Requests += d.resent
		r.Failed += d.resent
		r.Errors[result.OutcomeResetBeforeResponse] += d.resent
		r.Reasons = result.AddReason(r.Reasons, result.OutcomeResetBeforeResponse, d.resendReason, d.resent)
	}
	r.Bytes += d.bytes
	r.Decoded += d.decoded
	r.Logins += d.logins
	r.Relogins += d.relogins
	r.Rows += d.rows
	r.Resumes += d.resumes
	if outcome == outcomeShed {
		r.Shed++
		outcome = result.StatusOutcome(http.StatusServiceUnavailable)
	}
	switch outcome {
	case result.OutcomeOK:
		r.OK++
		r.Latency.Record(latency)
	case result.OutcomeAborted:
		r.Aborted++
	case result.OutcomeCutOff:
		r.CutOff++
	default:
		r.Failed++
		r.Errors[outcome]++
		r.Reasons = result.AddReason(r.Reasons, outcome, reason, 1)
	}
}

// outcomeShed is, inside the client only, a 503 that said when to come
// back (Retry-After): counted as status_503, and as shed.
const outcomeShed = "status_503+retry_after"

// maxResumes bounds how often one export is continued.
const maxResumes = 10000

// resumable outcomes are broken exports a client can continue.
func resumable(outcome string) bool {
	switch outcome {
	case result.OutcomeTruncated, result.OutcomeStalled, result.OutcomeErrorRecord, result.OutcomeConnect, result.StatusOutcome(502), result.StatusOutcome(503), outcomeShed:
		return true
	}
	return false
}

// export fetches the URL once or, with Resume, until the export is
// complete, continuing after the last row id seen. It returns the final
// outcome, body bytes, rows and the number of follow-up requests.
func (f *flood) export(ctx context.Context, cl *h1, sp *spec, buf []byte, abort int64, resumedBy map[string]int64, resent *int64) (string, int64, int64, int64) {
	u := *sp.u
	q := u.Query()
	since, _ := strconv.ParseInt(q.Get("since"), 10, 64)
	var bytes, rows, resumes int64
	for {
		v, _ := validate.New(sp.Validate, validate.Options{Since: since, CheckIDs: f.o.Resume, Rows: sp.Rows})
		outcome, n := f.request(ctx, cl, sp, &u, buf, abort, v, resent)
		bytes += n
		if v != nil {
			rows += v.Rows()
		}
		// A target that died (Stop closed) will not answer a resume.
		if !f.o.Resume || !resumable(outcome) || resumes >= maxResumes || ctx.Err() != nil || closed(f.o.Stop) {
			return outcome, bytes, rows, resumes
		}
		if outcome == result.OutcomeConnect || strings.HasPrefix(outcome, "status_") {
			select { // the target may be restarting
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return result.OutcomeCutOff, bytes, rows, resumes
			}
		}
		if outcome == outcomeShed {
			resumedBy[result.StatusOutcome(http.StatusServiceUnavailable)]++
		} else {
			resumedBy[outcome]++
		}
		since = v.LastID()
		q.Set("since", strconv.FormatInt(since, 10))
		u.RawQuery = q.Encode()
		resumes++
	}
}

// request performs one request and reads its body to the end (or to
// abort) through buf, feeding v, and returns the outcome and the body
// bytes: over the client's own HTTP/1.1 connection (cl), or Go's HTTP/2.
func (f *flood) request(ctx context.Context, cl *h1, sp *spec, u *url.URL, buf []byte, abort int64, v validate.Checker, resent *int64) (string, int64) {
	if f.o.Login != nil && !cl.sess.loggedIn {
		if err := f.login(ctx, &cl.sess); err != nil {
			cl.reason = err.Error()
			return classifyLogin(ctx, err), 0
		}
		cl.logins++
	}
	outcome, n := f.send(ctx, cl, sp, u, buf, abort, v, resent)
	if outcome != result.StatusOutcome(http.StatusUnauthorized) || f.o.Login == nil || ctx.Err() != nil {
		return outcome, n
	}
	// A session the server ended: log in again, once, and ask again.
	if err := f.login(ctx, &cl.sess); err != nil {
		cl.reason = err.Error()
		return classifyLogin(ctx, err), n
	}
	cl.logins++
	cl.relogins++
	outcome, k := f.send(ctx, cl, sp, u, buf, abort, v, resent) // v saw nothing of the 401's body
	return outcome, n + k
}

// classifyLogin is a failed login's outcome: cut off when the flood ended
// it, else login.
func classifyLogin(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return result.OutcomeCutOff
	}
	return result.OutcomeLogin
}

// send is one request over the client's own HTTP/1.1 connection (cl), or
// Go's HTTP/2.
func (f *flood) send(ctx context.Context, cl *h1, sp *spec, u *url.URL, buf []byte, abort int64, v validate.Checker, resent *int64) (string, int64) {
	if f.client != nil {
		return f.request2(ctx, cl, sp, u.String(), buf, abort, v, resent)
	}
	r, err := cl.roundTrip(ctx, sp, u, resent)
	if errors.Is(err, errBody) {
		return result.OutcomeConnect, 0 // as Go's transport path counts it
	}
	if err != nil {
		return classify(ctx, err), 0
	}
	defer func() {
		if !r.stop() || !r.keepAlive || !r.body.complete() {
			cl.close() // cancelled, closing, or left unread: not for the next request
		}
	}()
	if f.proto.Load() == nil {
		p := r.proto
		f.proto.CompareAndSwap(nil, &p)
	}
	return f.response(ctx, cl, r.status, r.retryAfter, r.encoding, &r.body, sp, buf, abort, v)
}

// request2 is request over Go's transport (HTTP/2).
func (f *flood) request2(ctx context.Context, cl *h1, sp *spec, rawURL string, buf []byte, abort int64, v validate.Checker, resent *int64) (string, int64) {
	// Go's transport sends an idempotent request again, on a fresh
	// connection, when a reused one dies before the response starts — what
	// a killed worker does. Every connection after the first is such a
	// re-send, and the server failed the one before it.
	var conns atomic.Int64
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { conns.Add(1) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), sp.Method, rawURL, nil)
	if err != nil {
		return result.OutcomeConnect, 0
	}
	for k, vs := range sp.Header {
		for _, v := range vs {
			req.Header.Add(k, cl.sess.expand(v))
		}
	}
	if c := cl.sess.cookie(req.URL); c != "" {
		req.Header.Set("Cookie", c)
	}
	if h := sp.Header.Get("Host"); h != "" {
		req.Host = h
	}
	if err := sp.Body.attach(req, f.o.WriteRate); err != nil {
		return result.OutcomeConnect, 0
	}
	resp, err := f.client.Do(req)
	*resent += max(conns.Load()-1, 0)
	if err != nil {
		return classify(ctx, err), 0
	}
	defer resp.Body.Close()
	cl.sess.keep(req.URL, resp.Header.Values("Set-Cookie"))
	f.proto.CompareAndSwap(nil, &resp.Proto)
	return f.response(ctx, cl, resp.StatusCode, resp.Header.Get("Retry-After") != "", resp.Header.Get("Content-Encoding"), resp.Body, sp, buf, abort, v)
}

// response judges a response by its status and reads its body: to the
// end, to the client's abort, or (paced) at its read rate. A compressed
// body (Content-Encoding) is decoded as it streams where it is checked or
// the client asked for compression: the validator sees the decoded bytes,
// while pacing, abort and the bytes returned count the wire's.
func (f *flood) response(ctx context.Context, cl *h1, status int, retryAfter bool, enc string, body io.Reader, sp *spec, buf []byte, abort int64, v validate.Checker) (string, int64) {
	if status != http.StatusOK {
		head := make([]byte, 64)
		src := body
		if dec, err := decode(enc, body); err == nil && dec != nil {
			defer dec.close()
			src = dec.r // the reason in words, not in gzip
		}
		k, _ := io.ReadFull(src, head)
		_, _ = io.CopyN(io.Discard, body, 1<<20)
		if status == http.StatusServiceUnavailable && retryAfter {
			return outcomeShed, 0
		}
		cl.reason = fmt.Sprintf("HTTP %d, its body began %s", status, strconv.Quote(string(head[:k])))
		return result.StatusOutcome(status), 0
	}
	if sp.Validate == result.CheckUpload {
		outcome, n, reason := sp.sent.check(body)
		cl.reason = reason
		return outcome, n
	}
	var dec *decoding
	if enc != "" && (v != nil || f.o.Compressed) {
		var err error
		if dec, err = decode(enc, body); err != nil {
			cl.reason = err.Error()
			return result.OutcomeInvalid, 0
		}
	}
	src := body
	if dec != nil {
		defer dec.close()
		src = dec.r
	}
	var n, decoded int64
	first := time.Now()
	for {
		size := len(buf)
		if f.o.ReadRate > 0 {
			// Read at most ~50ms worth at a time, then wait for the pace.
			size = f.readSize
			if ahead := time.Duration(float64(n)/float64(f.o.ReadRate)*float64(time.Second)) - time.Since(first); ahead > 0 && !cl.wait(ctx, ahead) {
				return result.OutcomeCutOff, n
			}
		}
		if abort > 0 {
			size = int(min(int64(size), abort-n))
		}
		k, err := f.read(src, buf, size, v)
		was := n
		if decoded += int64(k); dec != nil {
			n = dec.wire.n
			cl.decoded += int64(k)
		} else {
			n = decoded
		}
		f.bytes.Add(n - was)
		if abort > 0 && n >= abort {
			return result.OutcomeAborted, n // Close on an unread body drops the connection
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			if dec != nil {
				var invalid bool
				if err, invalid = dec.outcome(err); invalid {
					cl.reason = fmt.Sprintf("%s body, after %d bytes on the wire (%d decoded): %v", strings.ToLower(strings.TrimSpace(enc)), n, decoded, err)
					return result.OutcomeInvalid, n
				}
			}
			cl.reason = fmt.Sprintf("after %d body bytes: %v", n, err)
			return classify(ctx, err), n
		}
	}
	if v == nil {
		return result.OutcomeOK, n
	}
	outcome, _, detail := v.Finish()
	cl.reason = detail
	return outcome, n
}

// read reads at most size bytes of body, feeding v. A paced client
// (read_rate) owns no buffer: it borrows one from the flood's pool for the
// read alone, so 10,000 slow readers sleeping between reads hold only the
// buffers of the few reading at that instant.
func (f *flood) read(body io.Reader, own []byte, size int, v validate.Checker) (int, error) {
	buf := own
	if buf == nil {
		bp := f.pool.Get().(*[]byte)
		defer f.pool.Put(bp)
		buf = *bp
	}
	chunk := buf[:min(size, len(buf))]
	k, err := body.Read(chunk)
	if v != nil && k > 0 {
		v.Write(chunk[:k])
	}
	return k, err
}

// readSize is what a paced client reads at once: ~50 ms at its rate, but
// at least a second's worth up to 4 KiB (a slow reader then wakes a few
// times a second, not twenty: 30,000 readers at 4 KiB/s woke 600,000
// times a second, and their own CPU starved the dials), no more than its
// receive buffer can hold (the kernel doubles SO_RCVBUF), and never more
// than readBuffer.
func readSize(o Options) int {
	n := readBuffer
	if o.ReadRate > 0 {
		n = int(max(1, min(int64(n), max(o.ReadRate/20, min(o.ReadRate, minPacedRead)))))
	}
	if o.RecvBuffer > 0 {
		n = min(n, 2*o.RecvBuffer)
	}
	return n
}

// minPacedRead is the least a paced client reads at once (above its rate
// for a second).
const minPacedRead = 4 << 10

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// classify names a transport error.
func classify(ctx context.Context, err error) string {
	var ne net.Error
	var op *net.OpError
	switch {
	case ctx.Err() != nil:
		return result.OutcomeCutOff
	case errors.As(err, &op) && op.Op == "dial", errors.Is(err, syscall.ECONNREFUSED):
		// A dial that timed out is a connection the server never
		// accepted (its accept queue full: SYNs dropped), not a stall.
		return result.OutcomeConnect
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF):
		return result.OutcomeTruncated
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return result.OutcomeStalled
	}
	return result.OutcomeTruncated
}

func (f *flood) reportProgress() (stop func()) {
	if f.o.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				f.o.Progress(Progress{Elapsed: time.Since(f.start), Requests: f.requests.Load(), Bytes: f.bytes.Load()})
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

func (r *Result) merge(o *Result) {
	r.Requests += o.Requests
	r.OK += o.OK
	r.Failed += o.Failed
	r.Aborted += o.Aborted
	r.CutOff += o.CutOff
	r.Bytes += o.Bytes
	r.Decoded += o.Decoded
	r.Logins += o.Logins
	r.Relogins += o.Relogins
	r.Rows += o.Rows
	r.Resumes += o.Resumes
	r.Resent += o.Resent
	r.Shed += o.Shed
	for k, v := range o.ResumedBy {
		r.ResumedBy[k] += v
	}
	for k, v := range o.Errors {
		r.Errors[k] += v
	}
	for _, why := range o.Reasons {
		r.Reasons = result.AddReason(r.Reasons, why.Kind, why.Reason, why.Count)
	}
	r.Latency.Merge(&o.Latency)
	for name, b := range o.ByName {
		if r.ByName == nil {
			r.ByName = map[string]*Result{}
		}
		if r.ByName[name] == nil {
			r.ByName[name] = &Result{Errors: map[string]int64{}, ResumedBy: map[string]int64{}}
		}
		r.ByName[name].merge(b)
	}
}

// loginSetup checks the login against the requests: every ${login.NAME}
// a header uses needs a login to answer it.
func (f *flood) loginSetup() error {
	seen := map[string]bool{}
	for _, sp := range f.specs {
		for _, vs := range sp.Header {
			for _, v := range vs {
				for _, name := range header.LoginRefs(v) {
					if !seen[name] {
						seen[name] = true
						f.loginNames = append(f.loginNames, name)
					}
				}
			}
		}
	}
	if f.o.Login == nil {
		if len(f.loginNames) > 0 {
			return fmt.Errorf("${login.%s} in a request header, but no login request to answer it", f.loginNames[0])
		}
		return nil
	}
	if err := loopback.CheckURL(f.o.Login.URL, f.o.AllowRemote); err != nil {
		return fmt.Errorf("login: %w", err)
	}
	if f.o.Login.Method == "" {
		f.o.Login.Method = http.MethodPost
	}
	return nil
}
