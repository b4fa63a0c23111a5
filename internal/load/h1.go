package load

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// h1 is one client's own HTTP/1.1 (Go's transport serves HTTP/2): one kept-alive connection, one exchange
// at a time, run in the client's goroutine. Go's transport spends two
// goroutines, two bufios and a connection pool on every connection; a
// slow reader here costs its goroutine, its socket and a few hundred
// bytes: the response head is read through a pooled buffer, the body
// straight into the client's read buffer (or a pooled one, for a paced
// client), and chunked framing is taken out in place.
type h1 struct {
	f      *flood
	conn   net.Conn // nil until the first request, and after one that broke
	key    string   // scheme://host:port the connection is to
	peek   [1]byte
	pace   *time.Timer // a paced read's wait, one timer for all of them
	opened bool        // a connection opened once: the client is past the ramp
	// reason is why the last response failed, in words (a body's first
	// bad byte, a status's first body bytes), for the run's failure_reasons.
	reason string
	// resendReason is why the last request was sent again: the error its
	// kept-alive connection died with.
	resendReason string
	// decoded counts the decoded body bytes of compressed answers since
	// it was last taken; logins and relogins the client's logins, and
	// those after a 401.
	decoded, logins, relogins int64
	// sess is the client's cookies and what its login answered.
	sess session
}

// takeReason is the last response's reason, cleared.
func (h *h1) takeReason() string {
	r := h.reason
	h.reason = ""
	return r
}

// takeResendReason is why the last request was sent again, cleared.
func (h *h1) takeResendReason() string {
	r := h.resendReason
	h.resendReason = ""
	return r
}

// wait sleeps d, or until ctx is done (false). A paced client waits
// between all its reads: one timer, reset, not one made for each.
func (h *h1) wait(ctx context.Context, d time.Duration) bool {
	if h.pace == nil {
		h.pace = time.NewTimer(d)
	} else {
		h.pace.Reset(d)
	}
	select {
	case <-h.pace.C:
		return true
	case <-ctx.Done():
		h.pace.Stop()
		return false
	}
}

// errDeadKeepAlive wraps a failure on a kept-alive connection before the
// response's first byte: the server closed or dropped it (a killed
// worker). A client sends a replayable request again on a fresh
// connection, as Go's transport does, and counts the re-send.
var errDeadKeepAlive = errors.New("kept-alive connection died before the response")

// maxResends bounds the re-sends of one request.
const maxResends = 10

// response is a response head read by h1, with its body.
type response struct {
	status     int
	proto      string
	retryAfter bool
	keepAlive  bool
	encoding   string   // Content-Encoding
	setCookies []string // Set-Cookie lines, for the client's jar
	body       body1
	stop       func() bool // ends the request's cancellation hook
}

// close drops the connection.
func (h *h1) close() {
	if h.conn != nil {
		h.conn.Close()
		h.conn = nil
	}
}

// roundTrip sends sp to u on the kept-alive connection (or a new one) and
// reads the response head. A request that dies on a kept-alive connection
// before its response begins is sent again (replayable methods only), and
// counted in resent.
func (h *h1) roundTrip(ctx context.Context, sp *spec, u *url.URL, resent *int64) (*response, error) {
	for attempt := 0; ; attempt++ {
		r, err := h.exchange(ctx, sp, u)
		if err == nil {
			return r, nil
		}
		if !errors.Is(err, errDeadKeepAlive) || !replayable(sp) || attempt >= maxResends || ctx.Err() != nil {
			return nil, err
		}
		*resent++
		h.resendReason = fmt.Sprintf("%s: the server closed or dropped the connection as the request was sent (a keep-alive timeout's close crossing the request, or a worker that died); sent again on a new one", strings.TrimPrefix(err.Error(), errDeadKeepAlive.Error()+": "))
	}
}

// replayable is Go's rule for sending a request again by itself: an
// idempotent method without a body that could not be read twice.
func replayable(sp *spec) bool {
	switch sp.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return sp.Header.Get("Idempotency-Key") != "" || sp.Header.Get("X-Idempotency-Key") != ""
}

// exchange is one try: connect (or reuse), write the request, read the
// head. On error the connection is closed.
func (h *h1) exchange(ctx context.Context, sp *spec, u *url.URL) (*response, error) {
	key := u.Scheme + "://" + u.Host
	if h.conn != nil && (h.key != key || !h.alive()) {
		h.close() // to another target, or closed by the server while idle
	}
	reused := h.conn != nil
	answered := func(bool) {}
	if h.conn == nil {
		c, ans, err := h.f.connect(ctx, "tcp", hostPort(u), !h.opened)
		if err != nil {
			return nil, err
		}
		answered = ans
		if u.Scheme == "https" {
			if c, err = h.handshake(ctx, c, u); err != nil {
				answered(false)
				return nil, err
			}
		}
		h.conn, h.key = c, key
	}
	c := h.conn
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	r, err := h.send(sp, u, c)
	answered(err == nil)
	if err == nil {
		h.opened = true
	}
	if err != nil {
		stop()
		h.close()
		if reused && !errors.Is(err, errResponseBegan) && !errors.Is(err, errBody) && ctx.Err() == nil {
			return nil, fmt.Errorf("%w: %w", errDeadKeepAlive, err)
		}
		return nil, err
	}
	r.stop = stop
	return r, nil
}

// alive reports whether an idle kept-alive connection is still open: the
// server sent nothing while it was idle, neither data nor its close. It
// peeks without waiting (a deadline in the past would not even try).
func (h *h1) alive() bool {
	c := h.conn
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int
	var perr error
	if err := rc.Read(func(fd uintptr) bool {
		n, _, perr = syscall.Recvfrom(int(fd), h.peek[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		return true
	}); err != nil {
		return false
	}
	return errors.Is(perr, syscall.EAGAIN) && n <= 0 // nothing came: still open
}

func (h *h1) handshake(ctx context.Context, c net.Conn, u *url.URL) (net.Conn, error) {
	cfg := &tls.Config{}
	if h.f.o.TLS != nil {
		cfg = h.f.o.TLS.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = u.Hostname()
	}
	cfg.NextProtos = []string{"http/1.1"}
	tc := tls.Client(c, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return nil, err
	}
	return tc, nil
}

// hostPort is u's address with the scheme's port where it names none.
func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	if u.Scheme == "https" {
		return net.JoinHostPort(u.Hostname(), "443")
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// errResponseBegan marks an error after the response's first byte: the
// request reached the server, so it is not sent again.
var errResponseBegan = errors.New("response began")

// errBody is a request body that could not be opened: nothing was sent,
// and the connection was not to blame.
var errBody = errors.New("request body")

// send writes the request and reads the response head.
func (h *h1) send(sp *spec, u *url.URL, c net.Conn) (*response, error) {
	var rc io.ReadCloser
	var n int64
	if !sp.Body.empty() {
		var err error
		if rc, n, err = sp.Body.open(); err != nil {
			return nil, fmt.Errorf("%w: %w", errBody, err)
		}
		defer rc.Close()
		if h.f.o.WriteRate > 0 {
			rc = &paced{r: rc, rate: h.f.o.WriteRate}
		}
	}
	bp := headPool.Get().(*[]byte)
	defer headPool.Put(bp)
	head := appendHead((*bp)[:0], sp, u, rc != nil, n, &h.sess)
	if _, err := c.Write(head); err != nil {
		return nil, err
	}
	if rc != nil && n > 0 {
		if _, err := io.Copy(c, rc); err != nil {
			return nil, err
		}
	}
	*bp = head[:0]
	r, err := h.readHead(c, sp.Method, bp)
	if err == nil {
		h.sess.keep(u, r.setCookies)
		r.setCookies = nil
	}
	return r, err
}

// headPool holds the buffers response heads are read through (and
// request heads written from): one per exchange in flight, not per
// connection.
var headPool = sync.Pool{New: func() any { b := make([]byte, 0, 1<<10); return &b }}

// appendHead writes the request line and headers.
func appendHead(b []byte, sp *spec, u *url.URL, hasBody bool, n int64, sess *session) []byte {
	b = append(b, sp.Method...)
	b = append(b, ' ')
	b = append(b, u.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	if host := sp.Header.Get("Host"); host != "" {
		b = append(b, host...)
	} else {
		b = append(b, u.Host...)
	}
	b = append(b, "\r\n"...)
	if sp.Header.Get("User-Agent") == "" {
		b = append(b, "User-Agent: flood-harness\r\n"...)
	}
	for k, vs := range sp.Header {
		if http.CanonicalHeaderKey(k) == "Host" || http.CanonicalHeaderKey(k) == "Content-Length" {
			continue
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, sess.expand(v)...)
			b = append(b, "\r\n"...)
		}
	}
	if c := sess.cookie(u); c != "" {
		b = append(b, "Cookie: "...)
		b = append(b, c...)
		b = append(b, "\r\n"...)
	}
	switch {
	case hasBody:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, n, 10)
		b = append(b, "\r\n"...)
	case sp.Method == http.MethodPost || sp.Method == http.MethodPut || sp.Method == http.MethodPatch:
		b = append(b, "Content-Length: 0\r\n"...)
	}
	return append(b, "\r\n"...)
}

// maxHead bounds a response head, as Go's transport does (1 MiB).
const maxHead = 1 << 20

// readHead reads the status line and headers (skipping 1xx interim
// responses) through *bp, keeping what came after them for the body.
func (h *h1) readHead(c net.Conn, method string, bp *[]byte) (*response, error) {
	buf := (*bp)[:0]
	began := false
	for {
		end := bytes.Index(buf, []byte("\r\n\r\n"))
		if end < 0 {
			if len(buf) >= maxHead {
				return nil, fmt.Errorf("%w: response head over %d bytes", errResponseBegan, maxHead)
			}
			if len(buf) == cap(buf) {
				buf = append(buf, make([]byte, len(buf))...)[:len(buf)]
				*bp = buf
			}
			_ = c.SetReadDeadline(time.Now().Add(h.f.o.Timeout))
			k, err := c.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+k]
			if k > 0 {
				began = true
			}
			if err != nil {
				if errors.Is(err, io.EOF) && began {
					err = io.ErrUnexpectedEOF
				}
				if began {
					return nil, fmt.Errorf("%w: %w", errResponseBegan, err)
				}
				return nil, err
			}
			continue
		}
		r, err := parseHead(buf[:end+4])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", errResponseBegan, err)
		}
		rest := buf[end+4:]
		if r.status >= 100 && r.status < 200 && r.status != http.StatusSwitchingProtocols {
			buf = append(buf[:0], rest...) // an interim response: the real one follows
			continue
		}
		r.body = body1{c: c, timeout: h.f.o.Timeout, left: r.body.left, chunked: r.body.chunked}
		if method == http.MethodHead || r.status == http.StatusNoContent || r.status == http.StatusNotModified {
			r.body.left, r.body.chunked = 0, false
		}
		if len(rest) > 0 {
			r.body.pending = bytes.Clone(rest)
		}
		return r, nil
	}
}

// parseHead reads a status line and headers ending in an empty line.
func parseHead(b []byte) (*response, error) {
	lines := bytes.Split(b[:len(b)-4], []byte("\r\n"))
	status := lines[0]
	proto, rest, ok := bytes.Cut(status, []byte(" "))
	if !ok || !bytes.HasPrefix(proto, []byte("HTTP/1.")) || len(rest) < 3 {
		return nil, fmt.Errorf("malformed status line %q", clip(status))
	}
	code, err := strconv.Atoi(string(rest[:3]))
	if err != nil || code < 100 || code > 999 || (len(rest) > 3 && rest[3] != ' ') {
		return nil, fmt.Errorf("malformed status line %q", clip(status))
	}
	r := &response{status: code, proto: string(proto), keepAlive: string(proto) != "HTTP/1.0"}
	r.body.left = -1
	for _, l := range lines[1:] {
		name, value, ok := bytes.Cut(l, []byte(":"))
		if !ok || len(name) == 0 {
			return nil, fmt.Errorf("malformed header line %q", clip(l))
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (r.body.left >= 0 && r.body.left != n) {
				return nil, fmt.Errorf("bad Content-Length %q", clip(value))
			}
			r.body.left = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return nil, fmt.Errorf("unsupported Transfer-Encoding %q", clip(value))
			}
			r.body.chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				switch tok = bytes.TrimSpace(tok); {
				case bytes.EqualFold(tok, []byte("close")):
					r.keepAlive = false
				case bytes.EqualFold(tok, []byte("keep-alive")):
					r.keepAlive = true
				}
			}
		case bytes.EqualFold(name, []byte("Retry-After")):
			r.retryAfter = len(value) > 0
		case bytes.EqualFold(name, []byte("Content-Encoding")):
			r.encoding = string(value)
		case bytes.EqualFold(name, []byte("Set-Cookie")):
			r.setCookies = append(r.setCookies, string(value))
		}
	}
	if r.body.chunked {
		r.body.left = -1 // chunked framing wins over a length (RFC 9112 §6.3)
	}
	if r.body.left < 0 && !r.body.chunked {
		r.keepAlive = false // the body ends with the connection
	}
	return r, nil
}

func clip(b []byte) []byte { return b[:min(len(b), 80)] }

// body1 reads a response body off the connection: pending bytes first
// (read with the head), then the socket, each read waiting at most
// timeout for a byte; a chunked body's framing is removed in place.
type body1 struct {
	c       net.Conn
	timeout time.Duration
	pending []byte
	left    int64 // length still to come; -1 unknown (chunked, or up to the close)
	chunked bool
	ch      chunks
	done    bool
}

// Read fills p with body bytes; io.EOF once the body is complete,
// io.ErrUnexpectedEOF when the connection ends before.
func (b *body1) Read(p []byte) (int, error) {
	for {
		if b.done || (!b.chunked && b.left == 0) {
			b.done = true
			return 0, io.EOF
		}
		if len(p) == 0 {
			return 0, nil
		}
		want := len(p)
		if !b.chunked && b.left > 0 {
			want = int(min(int64(want), b.left))
		}
		var k int
		var err error
		if len(b.pending) > 0 {
			k = copy(p[:want], b.pending)
			b.pending = b.pending[k:]
		} else {
			_ = b.c.SetReadDeadline(time.Now().Add(b.timeout))
			k, err = b.c.Read(p[:want])
		}
		if !b.chunked {
			if b.left > 0 {
				b.left -= int64(k)
				if errors.Is(err, io.EOF) && b.left > 0 {
					err = io.ErrUnexpectedEOF
				}
			} else if errors.Is(err, io.EOF) { // a body up to the close
				b.done = true
			}
			return k, err
		}
		n, derr := b.ch.decode(p[:k])
		b.done = b.ch.state == chDone
		switch {
		case derr != nil:
			return n, derr
		case errors.Is(err, io.EOF) && !b.done:
			return n, io.ErrUnexpectedEOF
		case err != nil && !b.done:
			return n, err
		case n > 0 || b.done:
			return n, nil
		}
		// only framing came: read on
	}
}

// complete reports whether the body was read to its end, so the
// connection can carry the next request.
func (b *body1) complete() bool { return b.done && len(b.pending) == 0 && !b.ch.extra }

// chunks decodes chunked transfer coding in place, a byte state machine
// that needs no buffer of its own.
type chunks struct {
	state  uint8
	size   int64 // bytes left in this chunk, or the size being read
	digits int
	extra  bool // bytes came after the last chunk
}

const (
	chSize    = iota // hex digits of a chunk's size
	chExt            // a chunk extension, up to CR
	chSizeLF         // the LF ending the size line
	chData           // size bytes of data
	chDataCR         // CR after the data
	chDataLF         // LF after the data
	chTrailer        // the start of a trailer line (or of the final CRLF)
	chTrailerLine
	chEndLF
	chDone
)

// errChunk is malformed chunked framing.
var errChunk = errors.New("malformed chunked encoding")

// decode removes the framing from p, leaving the data bytes at its start,
// and returns how many there are.
func (c *chunks) decode(p []byte) (int, error) {
	w := 0
	for i := 0; i < len(p); {
		ch := p[i]
		switch c.state {
		case chSize:
			switch v := unhex(ch); {
			case v >= 0:
				if c.digits++; c.digits > 15 {
					return w, errChunk
				}
				c.size = c.size<<4 | int64(v)
			case ch == ';' || ch == ' ' || ch == '\t':
				c.state = chExt
			case ch == '\r':
				c.state = chSizeLF
			case ch == '\n':
				if err := c.sizeDone(); err != nil {
					return w, err
				}
			default:
				return w, errChunk
			}
			i++
		case chExt:
			switch ch {
			case '\r':
				c.state = chSizeLF
			case '\n':
				if err := c.sizeDone(); err != nil {
					return w, err
				}
			}
			i++
		case chSizeLF:
			if ch != '\n' {
				return w, errChunk
			}
			if err := c.sizeDone(); err != nil {
				return w, err
			}
			i++
		case chData:
			n := int(min(c.size, int64(len(p)-i)))
			w += copy(p[w:], p[i:i+n])
			i += n
			if c.size -= int64(n); c.size == 0 {
				c.state = chDataCR
			}
		case chDataCR:
			switch ch {
			case '\r':
				c.state = chDataLF
			case '\n':
				c.state, c.size, c.digits = chSize, 0, 0
			default:
				return w, errChunk
			}
			i++
		case chDataLF:
			if ch != '\n' {
				return w, errChunk
			}
			c.state, c.size, c.digits = chSize, 0, 0
			i++
		case chTrailer:
			switch ch {
			case '\r':
				c.state = chEndLF
			case '\n':
				c.state = chDone
			default:
				c.state = chTrailerLine
			}
			i++
		case chTrailerLine:
			if ch == '\n' {
				c.state = chTrailer
			}
			i++
		case chEndLF:
			if ch != '\n' {
				return w, errChunk
			}
			c.state = chDone
			i++
		case chDone:
			c.extra = true
			i = len(p)
		}
	}
	return w, nil
}

// sizeDone ends a size line: data follows, or (size 0) the trailer.
func (c *chunks) sizeDone() error {
	if c.digits == 0 {
		return errChunk
	}
	if c.size == 0 {
		c.state = chTrailer
	} else {
		c.state = chData
	}
	return nil
}

func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
