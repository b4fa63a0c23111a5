package load

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"

	"github.com/floodharness/harness/internal/request"
	"github.com/floodharness/harness/internal/result"
)

// encode is body in coding, as a server would send it.
func encode(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	var w io.WriteCloser
	switch coding {
	case "gzip":
		w = gzip.NewWriter(&b)
	case "deflate":
		w = zlib.NewWriter(&b)
	case "br":
		w = brotli.NewWriter(&b)
	case "zstd":
		zw, err := zstd.NewWriter(&b)
		if err != nil {
			t.Fatal(err)
		}
		w = zw
	}
	w.Write(body)
	w.Close()
	return b.Bytes()
}

// A compressed client asks for every coding it decodes and checks the
// decoded bodies: each coding's answers are valid JSON, the bytes on the
// wire and the decoded ones counted apart, over HTTP/1.1 chunked and
// with a length.
func TestCompressedAnswersAreDecoded(t *testing.T) {
	t.Parallel()
	body := []byte(`{"data": [` + strings.Repeat(`{"id": 1, "v": "xxxxxxxxxxxxxxxxxxxxxxxx"}, `, 2000) + `{"id": 2}], "meta": {}}`)
	for _, coding := range []string{"gzip", "deflate", "br", "zstd"} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s chunked=%v", coding, chunked), func(t *testing.T) {
				t.Parallel()
				coded := encode(t, coding, body)
				var asked atomic.Value
				ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					asked.Store(r.Header.Get("Accept-Encoding"))
					w.Header().Set("Content-Encoding", coding)
					if !chunked {
						w.Header().Set("Content-Length", fmt.Sprint(len(coded)))
					}
					for p := coded; len(p) > 0; p = p[min(len(p), 1000):] {
						w.Write(p[:min(len(p), 1000)])
						w.(http.Flusher).Flush()
					}
				}))
				t.Cleanup(ts.Close)
				res := runLoad(t, Options{URL: ts.URL, Concurrency: 2, Total: 6, Compressed: true, Validate: result.CheckJSON, Rows: "data", ReadRate: 4 << 20})
				if res.OK != 6 || res.Failed != 0 || res.Rows != 6*2001 || res.Bytes != 6*int64(len(coded)) || res.Decoded != 6*int64(len(body)) {
					t.Errorf("ok %d, failed %v %+v, rows %d, wire %d (want %d), decoded %d (want %d)", res.OK, res.Errors, res.Reasons, res.Rows, res.Bytes, 6*len(coded), res.Decoded, 6*len(body))
				}
				if got := asked.Load(); got != request.AcceptEncoding {
					t.Errorf("Accept-Encoding %q, want %q", got, request.AcceptEncoding)
				}
			})
		}
	}
}

// A body that is not what its Content-Encoding says is invalid_body with
// its reason; one cut short on the wire is truncated; a coding the client
// cannot decode is named. A checked body is decoded even where the client
// did not ask (a header of its own, or a server that compresses anyway).
func TestBadlyCompressedAnswers(t *testing.T) {
	t.Parallel()
	body := []byte(`[` + strings.Repeat(`{"id": 1}, `, 500) + `{"id": 2}]`)
	coded := encode(t, "gzip", body)
	corrupt := bytes.Clone(coded)
	for i := 20; i < 40; i++ {
		corrupt[i] ^= 0xff
	}
	for _, tt := range []struct {
		name, coding string
		answer       []byte
		length       int
		compressed   bool
		want, reason string
	}{
		{"corrupt", "gzip", corrupt, len(corrupt), true, result.OutcomeInvalid, "gzip body, after"},
		{"cut short", "gzip", coded[:len(coded)/2], len(coded), true, result.OutcomeTruncated, ""},
		{"unknown coding", "compress", coded, len(coded), true, result.OutcomeInvalid, `Content-Encoding "compress", which the client does not decode`},
		{"not asked, checked", "gzip", coded, len(coded), false, result.OutcomeOK, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Encoding", tt.coding)
				w.Header().Set("Content-Length", fmt.Sprint(tt.length))
				w.Write(tt.answer)
				if len(tt.answer) < tt.length {
					conn, _, _ := http.NewResponseController(w).Hijack()
					conn.Close()
				}
			}))
			t.Cleanup(ts.Close)
			res := runLoad(t, Options{URL: ts.URL, Concurrency: 1, Total: 2, Compressed: tt.compressed, Validate: result.CheckJSON})
			if tt.want == result.OutcomeOK {
				if res.OK != 2 || res.Decoded != 2*int64(len(body)) {
					t.Errorf("ok %d, errors %v, decoded %d", res.OK, res.Errors, res.Decoded)
				}
				return
			}
			if res.Errors[tt.want] != 2 || tt.reason != "" && (len(res.Reasons) == 0 || !strings.Contains(res.Reasons[0].Reason, tt.reason)) {
				t.Errorf("errors %v, reasons %+v; want %s with %q", res.Errors, res.Reasons, tt.want, tt.reason)
			}
		})
	}
}
