package load

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/result"
)

// Each kind of body arrives whole with its method, headers and length; a
// generated one is the pattern, repeated, however it is read.
func TestRequestsCarryMethodHeadersAndBodies(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "q.json")
	if err := os.WriteFile(file, []byte(`{"rows": 3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const size = 3<<20 + 17
	want := sha256.New()
	if _, err := io.Copy(want, &generated{left: size}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name   string
		method string
		body   Body
		want   []byte // nil: the generated body
		length int64
	}{
		{"data", http.MethodPost, Body{Data: []byte(`{"rows": 1}`)}, []byte(`{"rows": 1}`), 11},
		{"file", http.MethodPut, Body{File: file}, []byte(`{"rows": 3}`), 11},
		{"generated", http.MethodPut, Body{Size: size}, nil, size},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var bad []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				h := sha256.New()
				n, _ := io.Copy(h, r.Body)
				ok := r.Method == tt.method && r.Header.Get("Authorization") == "Bearer x" && r.ContentLength == tt.length && n == tt.length
				sum := want.Sum(nil)
				if tt.want != nil {
					s := sha256.Sum256(tt.want)
					sum = s[:]
				}
				ok = ok && bytes.Equal(h.Sum(nil), sum)
				if !ok {
					mu.Lock()
					bad = append(bad, r.Method+" "+r.Header.Get("Authorization"))
					mu.Unlock()
					w.WriteHeader(http.StatusBadRequest)
				}
			}))
			defer srv.Close()
			res, err := Run(context.Background(), Options{URL: srv.URL, Concurrency: 2, Duration: 300 * time.Millisecond, Requests: 3,
				Method: tt.method, Header: http.Header{"Authorization": {"Bearer x"}}, Body: tt.body})
			if err != nil {
				t.Fatal(err)
			}
			if res.OK != 6 || res.Failed != 0 || len(bad) > 0 {
				t.Errorf("%d ok, %d failed %v; the server saw %v", res.OK, res.Failed, res.Errors, bad)
			}
		})
	}
	// Read in odd sizes, a generated body is the same bytes.
	var b bytes.Buffer
	g := &generated{left: size}
	buf := make([]byte, 1000)
	for {
		n, err := g.Read(buf[:1+b.Len()%999])
		b.Write(buf[:n])
		if err == io.EOF {
			break
		}
	}
	if got := sha256.Sum256(b.Bytes()); b.Len() != size || !bytes.Equal(got[:], want.Sum(nil)) {
		t.Errorf("generated body read in pieces: %d bytes, another hash", b.Len())
	}
}

// An upload's answer must be what was sent: another length or hash is a
// failure of its own kind, not an ok.
func TestUploadAnswerIsChecked(t *testing.T) {
	t.Parallel()
	d, err := Body{Data: []byte("abc")}.digest()
	if err != nil {
		t.Fatal(err)
	}
	for answer, want := range map[string]string{
		`{"bytes": 3, "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}`: "ok",
		`{"bytes": 2, "sha256": "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}`: "upload_mismatch",
		`{"bytes": 3, "sha256": "00"}`: "upload_mismatch",
		`not json`:                     "invalid_body",
	} {
		got, _, reason := d.check(strings.NewReader(answer))
		if got != want || (want == "ok") != (reason == "") {
			t.Errorf("check(%s) = %s (%q), want %s with a reason unless ok", answer, got, reason, want)
		}
		if want == "upload_mismatch" && !strings.Contains(reason, "3 were sent, sha256 ba7816bf8f01") {
			t.Errorf("check(%s): reason %q does not say what was sent", answer, reason)
		}
	}
}

// A dial that times out is connect, never stalled: a full accept queue
// drops SYNs, and the dial's timeout is what the client sees.
func TestClassifyDialTimeoutIsConnect(t *testing.T) {
	t.Parallel()
	dialTimeout := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}}
	readTimeout := &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}}
	ctx := context.Background()
	if got := classify(ctx, dialTimeout); got != result.OutcomeConnect {
		t.Errorf("dial timeout = %s, want connect", got)
	}
	if got := classify(ctx, readTimeout); got != result.OutcomeStalled {
		t.Errorf("read timeout = %s, want stalled", got)
	}
}

// A paced client reads ~50 ms of its rate at once, never more than its
// receive buffer holds (the kernel doubles SO_RCVBUF) or readBuffer.
func TestReadSize(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		o    Options
		want int
	}{
		{Options{}, readBuffer},
		{Options{ReadRate: 64 << 10}, 4 << 10},
		{Options{ReadRate: 256 << 10}, 13107},
		{Options{ReadRate: 4 << 10, RecvBuffer: 1 << 10}, 2 << 10},
		{Options{ReadRate: 64 << 20}, readBuffer},
		{Options{ReadRate: 64 << 20, RecvBuffer: 4 << 10}, 8 << 10},
		{Options{ReadRate: 10}, 10},
	} {
		if got := readSize(tt.o); got != tt.want {
			t.Errorf("readSize(rate %d, recv %d) = %d, want %d", tt.o.ReadRate, tt.o.RecvBuffer, got, tt.want)
		}
	}
}
