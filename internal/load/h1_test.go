package load

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http/httputil"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/result"
)

// chunked encodes data as a server would, in pieces of size, with an
// extension on the first chunk and a trailer.
func chunked(data []byte, size int) []byte {
	var b bytes.Buffer
	for i := 0; i < len(data); i += size {
		piece := data[i:min(len(data), i+size)]
		ext := ""
		if i == 0 {
			ext = ";name=value"
		}
		fmt.Fprintf(&b, "%x%s\r\n%s\r\n", len(piece), ext, piece)
	}
	b.WriteString("0\r\nX-Trailer: yes\r\n\r\n")
	return b.Bytes()
}

// decodeSplit decodes enc fed in reads cut at random points, as a socket
// delivers it.
func decodeSplit(enc []byte, rnd *rand.Rand) ([]byte, *chunks, error) {
	var c chunks
	var out []byte
	for len(enc) > 0 {
		k := 1 + rnd.IntN(len(enc))
		piece := bytes.Clone(enc[:k])
		enc = enc[k:]
		n, err := c.decode(piece)
		out = append(out, piece[:n]...)
		if err != nil {
			return out, &c, err
		}
	}
	return out, &c, nil
}

// Chunked framing comes off in place, however the reads cut it: the data
// is what was sent, the end is seen, and malformed framing is an error.
func TestChunksDecode(t *testing.T) {
	t.Parallel()
	rnd := rand.New(rand.NewPCG(1, 2))
	data := bytes.Repeat([]byte("0123456789abcdef"), 1000)
	for _, size := range []int{1, 7, 4096, 100000} {
		for range 20 {
			out, c, err := decodeSplit(chunked(data, size), rnd)
			if err != nil || !bytes.Equal(out, data) || c.state != chDone || c.extra {
				t.Fatalf("chunks of %d: err %v, %d bytes (want %d), state %d", size, err, len(out), len(data), c.state)
			}
		}
	}
	// What Go's own chunked writer makes (no trailer) decodes too.
	var b bytes.Buffer
	w := httputil.NewChunkedWriter(&b)
	w.Write(data[:5000])
	w.Write(data[5000:])
	w.Close()
	b.WriteString("\r\n")
	if out, c, err := decodeSplit(b.Bytes(), rnd); err != nil || !bytes.Equal(out, data) || c.state != chDone {
		t.Errorf("Go's chunked writer: err %v, %d bytes", err, len(out))
	}
	for _, bad := range []string{"zz\r\n", "\r\n", "5\r\nhello!!", "5\r\nhelloX\r\n", "1234567890abcdef0\r\n", "5\rX"} {
		if _, _, err := decodeSplit([]byte(bad), rnd); !errors.Is(err, errChunk) {
			t.Errorf("%q: err %v, want malformed", bad, err)
		}
	}
	if _, c, _ := decodeSplit([]byte("0\r\n\r\nGARBAGE"), rnd); !c.extra {
		t.Error("bytes after the last chunk are not noticed")
	}
}

// The decoder never panics and never makes bytes: whatever comes in, what
// it keeps is at most what it got; and a valid encoding of any data,
// split anywhere, decodes to that data.
func FuzzChunks(f *testing.F) {
	f.Add([]byte("hello world"), []byte("5\r\nhello\r\n0\r\n\r\n"), uint64(3))
	f.Add([]byte{}, []byte("0;x\r\nT: v\r\n\r\n"), uint64(1))
	f.Fuzz(func(t *testing.T, data, raw []byte, seed uint64) {
		rnd := rand.New(rand.NewPCG(seed, 7))
		out, _, _ := decodeSplit(raw, rnd)
		if len(out) > len(raw) {
			t.Fatalf("%d bytes out of %d in", len(out), len(raw))
		}
		size := 1 + int(seed%97)
		got, c, err := decodeSplit(chunked(data, size), rnd)
		if err != nil || !bytes.Equal(got, data) || c.state != chDone {
			t.Fatalf("valid encoding: err %v, %q != %q", err, got, data)
		}
	})
}

// A response head parses or is an error; it never panics, and what it
// says of the framing is consistent.
func FuzzParseHead(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"))
	f.Add([]byte("HTTP/1.0 503 Busy\r\nRetry-After: 1\r\nConnection: keep-alive"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9"))
	f.Fuzz(func(t *testing.T, head []byte) {
		r, err := parseHead(append(bytes.Clone(head), "\r\n\r\n"...))
		if err != nil {
			return
		}
		if r.status < 100 || r.status > 999 || (r.body.chunked && r.body.left != -1) || (r.body.left < 0 && !r.body.chunked && r.keepAlive) {
			t.Fatalf("%q: %+v", head, r)
		}
	})
}

// rawServer answers each request on a connection with the next of
// answers (cycling), written as given; after an answer that says
// close, it closes. idleClose closes a connection that long after an
// answer, as a server's keep-alive timeout does.
func rawServer(t *testing.T, idleClose time.Duration, answers ...string) (string, *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var conns atomic.Int64
	var next atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for served := false; ; served = true {
					// Idle after an answer, as a keep-alive timeout counts:
					// a fresh connection waits for its first request (a
					// deadline before it closed one whose request a busy
					// machine sent 20 ms late: truncated, on CI).
					if idleClose > 0 && served {
						c.SetReadDeadline(time.Now().Add(idleClose))
					}
					// Read the request head (no bodies here).
					for {
						l, err := br.ReadString('\n')
						if err != nil {
							return
						}
						if l == "\r\n" {
							break
						}
					}
					a := answers[int(next.Add(1)-1)%len(answers)]
					io.WriteString(c, a)
					if strings.Contains(a, "Connection: close") || strings.HasPrefix(a, "HTTP/1.0") {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/", &conns
}

// The client's own HTTP/1.1 reads every framing a server may use — a
// length, chunks with extensions and trailers, a body up to the close, a
// 100 Continue first — keeps a connection alive where the server does,
// and does not count a connection the server closed while idle as a
// re-send.
func TestH1Framing(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 10000)
	for _, tt := range []struct {
		name      string
		answer    string
		idleClose time.Duration
		maxConns  int64
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + body, 0, 1},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + string(chunked([]byte(body), 3000)), 0, 1},
		{"to the close", "HTTP/1.0 200 OK\r\n\r\n" + body, 0, 20},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10000\r\n\r\n" + body, 0, 20},
		{"100 continue", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 10000\r\n\r\n" + body, 0, 1},
		{"idle close", "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\n\r\n" + body, 20 * time.Millisecond, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, conns := rawServer(t, tt.idleClose, tt.answer)
			o := Options{URL: u, Concurrency: 1, Requests: 20}
			if tt.idleClose > 0 {
				// A request every 200 ms: the server has closed the last
				// connection by then. At 50 ms, a request the busy CI
				// machine sent late was followed by one paced to catch up
				// within the server's 20 ms, which crossed its close
				// (reset_before_response, re-sent): a race no client wins.
				o.Rate = 5
			}
			res := runLoad(t, o)
			if res.OK != 20 || res.Bytes != 20*10000 || res.Resent != 0 || res.Failed != 0 || conns.Load() > tt.maxConns || res.Proto == "" {
				t.Errorf("ok %d, %d bytes, resent %d, errors %v, %d connections (at most %d), proto %q", res.OK, res.Bytes, res.Resent, res.Errors, conns.Load(), tt.maxConns, res.Proto)
			}
		})
	}
	// A body that ends before its length, or mid-chunk, is truncated.
	for _, answer := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 10000\r\nConnection: close\r\n\r\n" + body[:5000],
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n2710\r\n" + body[:5000],
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhelloXX",
	} {
		u, _ := rawServer(t, 0, answer)
		res := runLoad(t, Options{URL: u, Concurrency: 1, Requests: 1})
		if res.Errors[result.OutcomeTruncated] != 1 {
			t.Errorf("%.60q: errors %v, want truncated", answer, res.Errors)
		}
	}
}

// A body that cannot be opened is the request's failure (connect, as
// before), not the kept-alive connection's: nothing is sent again.
func TestBodyErrorIsNotAResend(t *testing.T) {
	t.Parallel()
	u, _ := rawServer(t, 0, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	res := runLoad(t, Options{Concurrency: 1, Requests: 40, Mix: []Weighted{
		{Name: "get", Weight: 1, Request: Request{URL: u}},
		{Name: "gone", Weight: 1, Request: Request{URL: u, Body: Body{File: t.TempDir() + "/gone"}}},
	}})
	if res.Resent != 0 || res.OK == 0 || res.Errors[result.OutcomeConnect] == 0 || res.OK+res.Errors[result.OutcomeConnect] != 40 {
		t.Errorf("ok %d, resent %d, errors %v: want the missing body's requests failed as connect, none sent again", res.OK, res.Resent, res.Errors)
	}
}
