package targets

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// decodeBody is body decoded from coding.
func decodeBody(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	var err error
	switch coding {
	case "gzip":
		r, err = gzip.NewReader(bytes.NewReader(body))
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "zstd":
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(body))
		if err == nil {
			defer d.Close()
		}
		r = d
	}
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return out
}

// A compressing server answers in its coding where the request accepts it
// (buffered with the compressed length, streamed chunked), the decoded
// bytes exactly the uncompressed answer's; identity where the request does
// not accept it, or refuses it with q=0.
func TestCompressedExport(t *testing.T) {
	t.Parallel()
	for _, impl := range []string{ImplBuffered, ImplStreamed} {
		_, plainURL := newTestServer(t, func(c *Config) { c.Impl = impl })
		_, want := get(t, plainURL+"/export?rows=300")
		for _, coding := range []string{"gzip", "br", "zstd"} {
			_, url := newTestServer(t, func(c *Config) { c.Impl, c.Compress = impl, coding })
			for _, accept := range []string{"gzip, br, zstd, deflate", coding, coding + ";q=0", "identity", ""} {
				req, _ := http.NewRequest("GET", url+"/export?rows=300", nil)
				req.Header.Set("Accept-Encoding", accept)
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got, enc := body, resp.Header.Get("Content-Encoding")
				wantEnc := coding
				if accept == "" || accept == "identity" || accept == coding+";q=0" {
					wantEnc = ""
				}
				if enc != "" {
					got = decodeBody(t, enc, body)
				}
				name := fmt.Sprintf("%s --compress %s, Accept-Encoding %q", impl, coding, accept)
				if enc != wantEnc || !bytes.Equal(got, want) || resp.Header.Get("Vary") != "Accept-Encoding" {
					t.Errorf("%s: Content-Encoding %q (want %q), Vary %q, decoded %d bytes equal %v", name, enc, wantEnc, resp.Header.Get("Vary"), len(got), bytes.Equal(got, want))
				}
				if enc != "" && len(body) >= len(want) {
					t.Errorf("%s: %d bytes on the wire for %d: not compressed", name, len(body), len(want))
				}
				if impl == ImplBuffered && resp.ContentLength != int64(len(body)) {
					t.Errorf("%s: Content-Length %d for %d bytes", name, resp.ContentLength, len(body))
				}
			}
		}
	}
	if _, err := New(Config{Impl: ImplStreamed, Format: "json", Admission: AdmitNone, Batch: 1, Chunk: 1, Compress: "lz4"}); err == nil {
		t.Error("--compress lz4 accepted")
	}
}
