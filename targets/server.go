package targets

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/floodharness/harness/internal/units"
)

// Implementations of the export.
const (
	// ImplBuffered materialises every row, marshals the whole body, sets
	// Content-Length and writes once: memory grows with the response.
	ImplBuffered = "buffered"
	// ImplStreamed encodes row by row into a bounded buffer and flushes it
	// whenever it reaches Config.Chunk: memory per request is constant.
	ImplStreamed = "streamed"
	// ImplBatched is streamed, but flushes every Config.Batch rows.
	ImplBatched = "batched"
)

// Impls lists the accepted implementations.
func Impls() []string { return []string{ImplBuffered, ImplStreamed, ImplBatched} }

// Config describes one reference server. The zero value is not valid; use
// DefaultConfig and change what differs.
type Config struct {
	// Impl is buffered, streamed or batched.
	Impl string
	// Format is the default wire format: json, ndjson or csv. A request may
	// choose another with ?format=.
	Format string
	// Admission is none, held, early-release or reject.
	Admission string
	// Budget is the admission budget in bytes; used unless Admission is none.
	Budget units.Bytes
	// Batch is the number of rows per chunk for the batched impl.
	Batch int
	// Chunk is the streamed impl's flush threshold in bytes.
	Chunk units.Bytes
	// Width is the default payload width in bytes.
	Width int
	// Rows is the default row count when a request does not say.
	Rows int64
	// Source yields the rows; nil means a Synthetic source.
	Source Source
	// RetainBytes is a regression knob, off (0) by default: every request
	// allocates and touches this many extra bytes and keeps them until its
	// response ends, as a change that buffers again would. Tests and the
	// gate's fidelity check use it to plant a real memory regression.
	RetainBytes units.Bytes
	// LeakBytes is a leak knob, off (0) by default: every request keeps
	// this many bytes forever, as a handler that caches per request would.
	// What "memory over time" must find.
	LeakBytes units.Bytes
	// Compress is the coding answers are compressed with where the request
	// accepts it: none (""), gzip, br or zstd. Buffered compresses the
	// whole body at once; streamed and batched through one compressor per
	// response, flushed with each chunk.
	Compress string
}

// DefaultConfig is a streamed JSON server without admission control.
func DefaultConfig() Config {
	return Config{
		Impl:      ImplStreamed,
		Format:    "json",
		Admission: AdmitNone,
		Budget:    64 << 20,
		Batch:     100,
		Chunk:     32 << 10,
		Width:     64,
		Rows:      1000,
	}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if !slices.Contains(Impls(), c.Impl) {
		errs = append(errs, fmt.Errorf("impl %q: want one of %s", c.Impl, strings.Join(Impls(), ", ")))
	}
	if _, err := FormatFor(c.Format); err != nil {
		errs = append(errs, err)
	}
	if !slices.Contains(Admissions(), c.Admission) {
		errs = append(errs, fmt.Errorf("admission %q: want one of %s", c.Admission, strings.Join(Admissions(), ", ")))
	}
	if c.Admission != AdmitNone && c.Budget <= 0 {
		errs = append(errs, fmt.Errorf("budget %d: must be positive with admission %q", c.Budget, c.Admission))
	}
	if err := checkCompress(c.Compress); err != nil {
		errs = append(errs, err)
	}
	if c.Batch < 1 {
		errs = append(errs, fmt.Errorf("batch %d: must be at least 1", c.Batch))
	}
	if c.Chunk < 1 || c.Chunk > 64<<20 {
		errs = append(errs, fmt.Errorf("chunk %d: must be between 1 byte and 64MiB", c.Chunk))
	}
	if c.Width < 0 || c.Width > MaxWidth {
		errs = append(errs, fmt.Errorf("width %d: must be between 0 and %d", c.Width, MaxWidth))
	}
	if c.LeakBytes < 0 || c.LeakBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("leak-bytes %d: must be between 0 and 64MiB", c.LeakBytes))
	}
	if c.RetainBytes < 0 || c.RetainBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("retain-bytes %d: must be between 0 and 1GiB", c.RetainBytes))
	}
	if c.Rows < 0 || c.Rows > MaxRows {
		errs = append(errs, fmt.Errorf("rows %d: must be between 0 and %d", c.Rows, MaxRows))
	}
	return errors.Join(errs...)
}

// Server serves /export, /upload and /discard (PUT or POST), /healthz (and /health), /debug/vars and /debug/pprof/.
type Server struct {
	cfg      Config
	format   Format
	src      Source
	budget   *Budget // nil without admission
	inFlight atomic.Int64
	leakMu   sync.Mutex
	leaked   [][]byte // LeakBytes per request, kept forever
	served   atomic.Int64
	aborted  atomic.Int64
	mux      *http.ServeMux
}

// New validates cfg and builds its server.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, src: cfg.Source, mux: http.NewServeMux()}
	s.format, _ = FormatFor(cfg.Format)
	if s.src == nil {
		s.src = NewSynthetic()
	}
	if cfg.Admission != AdmitNone {
		b, err := NewBudget(int64(cfg.Budget))
		if err != nil {
			return nil, err
		}
		s.budget = b
	}
	s.mux.HandleFunc("GET /export", s.export)
	s.mux.HandleFunc("POST /export", s.export) // a query body is read and ignored: the query string says what
	s.mux.HandleFunc("PUT /upload", s.upload)
	s.mux.HandleFunc("POST /upload", s.upload)
	s.mux.HandleFunc("PUT /discard", s.discard)
	s.mux.HandleFunc("POST /discard", s.discard)
	// /health too: what `harness init --cmd` scenarios ask by default.
	for _, p := range []string{"GET /healthz", "GET /health"} {
		s.mux.HandleFunc(p, func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte("ok"))
		})
	}
	s.mux.HandleFunc("GET /debug/vars", s.vars)
	s.mux.HandleFunc("/debug/pprof/", pprof.Index)
	s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return s, nil
}

// leak keeps n touched bytes forever (the LeakBytes knob).
func (s *Server) leak(n int64) {
	b := make([]byte, n)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1 // resident, as a real cache's bytes are
	}
	s.leakMu.Lock()
	s.leaked = append(s.leaked, b)
	s.leakMu.Unlock()
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// ServeOptions say how Serve answers: Grace for requests in flight at the
// end; TLS (HTTPS, HTTP/2 by ALPN) or H2C (cleartext HTTP/2, prior
// knowledge) beside HTTP/1.1.
type ServeOptions struct {
	Grace time.Duration
	TLS   *tls.Config
	H2C   bool
}

// Serve answers on ln until ctx is done, then shuts down gracefully: new
// connections stop at once and requests in flight get grace to finish.
func (s *Server) Serve(ctx context.Context, ln net.Listener, o ServeOptions) error {
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, TLSConfig: o.TLS}
	if o.H2C {
		// Cleartext HTTP/2 with prior knowledge, and HTTP/1.1 beside it.
		srv.Protocols = new(http.Protocols)
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	grace := o.Grace
	errc := make(chan error, 1)
	go func() {
		if o.TLS != nil {
			errc <- srv.ServeTLS(ln, "", "") // HTTP/2 by ALPN, HTTP/1.1 beside it
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close() // streams still running after the grace period
	}
	<-errc
	return nil
}

// Stats is a snapshot of the server's counters, as /debug/vars shows them.
type Stats struct {
	InFlight  int64        `json:"in_flight"`
	Served    int64        `json:"served"`
	Aborted   int64        `json:"aborted"`
	Admission string       `json:"admission"`
	Budget    *BudgetStats `json:"budget,omitempty"`
}

// Stats reads the counters.
func (s *Server) Stats() Stats {
	st := Stats{
		InFlight:  s.inFlight.Load(),
		Served:    s.served.Load(),
		Aborted:   s.aborted.Load(),
		Admission: s.cfg.Admission,
	}
	if s.budget != nil {
		b := s.budget.Stats()
		st.Budget = &b
	}
	return st
}

// vars writes expvar's format (cmdline, memstats) plus this server's
// counters under "export", without expvar's process-wide registry.
func (s *Server) vars(w http.ResponseWriter, _ *http.Request) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	v := struct {
		Cmdline  []string         `json:"cmdline"`
		Memstats runtime.MemStats `json:"memstats"`
		Export   Stats            `json:"export"`
	}{os.Args, ms, s.Stats()}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) export(w http.ResponseWriter, r *http.Request) {
	q, err := ParseQuery(r.URL.Query(), Query{Rows: s.cfg.Rows, Width: s.cfg.Width})
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if fixed, ok := s.src.(interface{ Width() int }); ok && q.Width != fixed.Width() {
		http.Error(w, fmt.Sprintf("query width: this source holds %d-byte payloads, not %d", fixed.Width(), q.Width), http.StatusBadRequest)
		return
	}
	f := s.format
	if q.Format != "" {
		f, _ = FormatFor(q.Format) // ParseQuery checked the name
	}
	started := func() {}
	if s.budget != nil {
		peak, body := estimate(s.cfg.Impl, f, q)
		var res *Reservation
		switch s.cfg.Admission {
		case AdmitReject:
			var ok bool
			if res, ok = s.budget.TryAcquire(peak); !ok {
				w.Header().Set("Retry-After", "1")
				http.Error(w, "admission budget exhausted, retry later", http.StatusServiceUnavailable)
				return
			}
		default:
			if res, err = s.budget.Acquire(r.Context(), peak); err != nil {
				return // the client left while waiting
			}
		}
		defer res.Release()
		if s.cfg.Admission == AdmitEarlyRelease {
			started = res.Release // KNOWN BAD, on purpose: see AdmitEarlyRelease.
		} else {
			started = func() { res.Shrink(body) } // the build is over; the body stays until written
		}
	}
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	if n := s.cfg.LeakBytes; n > 0 {
		s.leak(int64(n))
	}
	if n := s.cfg.RetainBytes; n > 0 {
		retained := make([]byte, n)
		for i := 0; i < len(retained); i += 4096 {
			retained[i] = 1 // touch every page, so it is resident
		}
		defer runtime.KeepAlive(retained)
	}
	if err := s.write(w, r, q, f, started); err != nil {
		s.aborted.Add(1)
		return
	}
	s.served.Add(1)
}

// write produces the body with the configured impl. started runs once the
// body is ready to go out, before its first byte is written.
func (s *Server) write(w http.ResponseWriter, r *http.Request, q Query, f Format, started func()) error {
	w.Header().Set("Content-Type", f.ContentType())
	if s.cfg.Compress != "" && s.cfg.Compress != "none" {
		w.Header().Set("Vary", "Accept-Encoding")
	}
	if s.cfg.Impl == ImplBuffered {
		return s.writeBuffered(w, r, q, f, started)
	}
	return s.writeStreamed(w, r, q, f, started)
}

// errFailAt stops a Scan at the row ?fail_at= names.
var errFailAt = errors.New("fail_at reached")

// stallLimit bounds a stalled response if the client never gives up.
const stallLimit = 10 * time.Minute

func (s *Server) writeBuffered(w http.ResponseWriter, r *http.Request, q Query, f Format, started func()) error {
	var rows []Row // grows like a fetchall(): no preallocation
	err := s.src.Scan(r.Context(), q, func(row *Row) error {
		if q.FailAt >= 0 && int64(len(rows)) == q.FailAt {
			return errFailAt
		}
		c := *row
		c.Payload = strings.Clone(row.Payload) // each row owns its data, as a query result would
		rows = append(rows, c)
		return nil
	})
	failed := errors.Is(err, errFailAt)
	if err != nil && !failed {
		return err
	}
	err = nil
	var body []byte
	switch {
	case !failed:
		body, err = f.Marshal(rows)
	default:
		// The whole (partial) body is still built in memory first.
		body = f.AppendHeader(nil)
		for i := range rows {
			body = f.AppendRow(body, &rows[i], i == 0)
		}
		if q.FailMode == FailRecord {
			body = f.AppendTrailer(f.AppendError(body, failMessage(q), lastID(q, rows), len(rows) == 0))
		}
	}
	if err != nil {
		http.Error(w, "marshal: "+err.Error(), http.StatusInternalServerError)
		return err
	}
	if coding := s.coding(r); coding != "" {
		if body, err = compressAll(coding, body); err != nil {
			http.Error(w, "compress: "+err.Error(), http.StatusInternalServerError)
			return err
		}
		w.Header().Set("Content-Encoding", coding)
	}
	started()
	length := len(body)
	if failed && q.FailMode != FailRecord {
		length++ // announce a byte that never comes: the body is cut short
	}
	w.Header().Set("Content-Length", strconv.Itoa(length))
	if _, err = w.Write(body); err != nil || !failed || q.FailMode == FailRecord {
		return err
	}
	return s.breakOff(w, r, q)
}

func lastID(q Query, rows []Row) int64 {
	if len(rows) == 0 {
		return q.Since
	}
	return rows[len(rows)-1].ID
}

func failMessage(q Query) string {
	return fmt.Sprintf("export failed after %d rows (fail_at)", q.FailAt)
}

// minChunk is where a streamed response's buffer starts. It doubles up to
// Config.Chunk once growAfter bytes in a row were written at once (a fast
// reader: its writes never wait), and never shrinks. A slow reader's
// writes wait as soon as its socket buffers are full, long before
// growAfter, so it holds 4 KiB while it waits, not the whole chunk: 40 MiB
// at 10,000 slow readers instead of 320.
const minChunk = 4 << 10

// growAfter is how much a response writes at once, in a row, before its
// buffer doubles; a write that took at most chunkFast did not wait.
const (
	growAfter = 256 << 10
	chunkFast = time.Millisecond
)

// nextChunk is the flush threshold after a write of n bytes that took d,
// with fast bytes written at once in a row before it; it returns the new
// threshold and run.
func nextChunk(limit, most, n, fast int, d time.Duration) (int, int) {
	if d > chunkFast {
		return limit, 0
	}
	if fast += n; fast >= growAfter && limit < most {
		return min(2*limit, most), 0
	}
	return limit, fast
}

// startBufs holds streamed responses' starting buffers: a response that
// stays small (most do, and every slow reader's) makes no garbage of it.
var startBufs sync.Pool

// startBuf is a buffer of at least n bytes' capacity from startBufs.
func startBuf(n int) *[]byte {
	if bp, ok := startBufs.Get().(*[]byte); ok && cap(*bp) >= n {
		*bp = (*bp)[:0]
		return bp
	}
	b := make([]byte, 0, n)
	return &b
}

func (s *Server) writeStreamed(w http.ResponseWriter, r *http.Request, q Query, f Format, started func()) error {
	rc := http.NewResponseController(w)
	most := int(s.cfg.Chunk)
	chunk := most // batched: the buffer holds its rows
	if s.cfg.Impl == ImplStreamed {
		chunk = min(minChunk, most)
	}
	slack := q.Width*2 + 256 // a row past the threshold
	var buf []byte
	var pooled *[]byte // the starting buffer, from startBufs and back
	if s.cfg.Impl == ImplStreamed && chunk == minChunk {
		pooled = startBuf(chunk + slack)
		buf = *pooled
		defer func() {
			if pooled != nil {
				*pooled = buf[:0]
				startBufs.Put(pooled)
			}
		}()
	} else {
		buf = make([]byte, 0, chunk+slack)
	}
	fast := 0 // bytes written at once, in a row
	var out io.Writer = w
	var cw compressor // the response's own compressor, where it is compressed
	if coding := s.coding(r); coding != "" {
		var err error
		if cw, err = newCompressor(coding, w); err != nil {
			return err
		}
		w.Header().Set("Content-Encoding", coding)
		out = cw
	}
	flush := func() error {
		began := time.Now()
		if _, err := out.Write(buf); err != nil {
			return err
		}
		if cw != nil {
			if err := cw.Flush(); err != nil {
				return err
			}
		}
		err := rc.Flush() // no Content-Length: net/http sends it chunked
		if s.cfg.Impl == ImplStreamed && chunk < most {
			var next int
			if next, fast = nextChunk(chunk, most, len(buf), fast, time.Since(began)); next != chunk {
				if pooled != nil {
					*pooled = buf[:0]
					startBufs.Put(pooled)
					pooled = nil
				}
				chunk = next
				buf = make([]byte, 0, chunk+slack)
			}
		}
		buf = buf[:0]
		return err
	}
	started()
	buf = f.AppendHeader(buf)
	first, n, last := true, int64(0), q.Since
	err := s.src.Scan(r.Context(), q, func(row *Row) error {
		if q.FailAt >= 0 && n == q.FailAt {
			return errFailAt
		}
		buf = f.AppendRow(buf, row, first)
		first, last = false, row.ID
		n++
		if (s.cfg.Impl == ImplBatched && n%int64(s.cfg.Batch) == 0) || (s.cfg.Impl == ImplStreamed && len(buf) >= chunk) {
			return flush()
		}
		return nil
	})
	switch {
	case errors.Is(err, errFailAt) && q.FailMode == FailRecord:
		buf = f.AppendError(buf, failMessage(q), last, first)
	case errors.Is(err, errFailAt):
		if err := flush(); err != nil {
			return err
		}
		return s.breakOff(w, r, q)
	case err != nil:
		return err
	}
	buf = f.AppendTrailer(buf)
	if err := flush(); err != nil || cw == nil {
		return err
	}
	if err := cw.Close(); err != nil {
		return err
	}
	return rc.Flush()
}

// breakOff ends a response that has sent part of its body without
// finishing it: abort drops the connection (the client sees a truncated
// body); stall sends nothing more until the client gives up.
func (s *Server) breakOff(w http.ResponseWriter, r *http.Request, q Query) error {
	_ = http.NewResponseController(w).Flush()
	if q.FailMode == FailAbort {
		s.aborted.Add(1)
		panic(http.ErrAbortHandler) // net/http closes the connection, no final chunk
	}
	select {
	case <-r.Context().Done():
	case <-time.After(stallLimit):
	}
	return errors.New("stalled on purpose (fail_mode=stall)")
}

// estimate is the memory a request for q holds: at its peak, and from the
// moment its body is ready until the response ends. A streamed body is
// reserved at its encoded size throughout (the conservative per-request
// reservation a real export gate makes). A buffered one holds more than its
// body while it is built — the materialised rows, the encoder's buffer and
// the finished copy json.Marshal returns — and then only the body.
// Reserving just the body size for the build lets the budget admit several
// times its size at once.
func estimate(impl string, f Format, q Query) (peak, body int64) {
	count := max(0, q.Rows-q.Since)
	r := Row{ID: q.Rows, Name: names[0], Note: notes[1], Payload: strings.Repeat("x", q.Width)}
	row := int64(len(f.AppendRow(nil, &r, false)))
	body = int64(len(f.AppendHeader(nil))+len(f.AppendTrailer(nil))) + count*row
	if impl != ImplBuffered {
		return body, body
	}
	rows := count * (int64(unsafe.Sizeof(r)) + int64(q.Width)) // each row owns its payload
	return rows + 2*body, body
}
