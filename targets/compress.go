package targets

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Compressions are the codings the reference server can answer with
// (Config.Compress): what a server pays for compression is part of its
// memory under load — a compressor's state per response in flight when
// it streams, the whole body a second time when it compresses at once.
func Compressions() []string { return []string{"none", "gzip", "br", "zstd"} }

// compressor is one response's encoder: each write goes through it, Flush
// pushes what it holds to the client (a streamed response's chunk), Close
// ends the coded stream.
type compressor interface {
	io.WriteCloser
	Flush() error
}

// newCompressor is a coding's encoder at its common default level (gzip
// 6, brotli 6, zstd's default): what a server that turns compression on
// gets. zstd encodes synchronously, one response one encoder.
func newCompressor(coding string, w io.Writer) (compressor, error) {
	switch coding {
	case "gzip":
		return gzip.NewWriterLevel(w, gzip.DefaultCompression)
	case "br":
		return brotli.NewWriterLevel(w, brotli.DefaultCompression), nil
	case "zstd":
		return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
	}
	return nil, fmt.Errorf("compress %q: want one of %s", coding, strings.Join(Compressions(), ", "))
}

// coding is what this response is compressed with: the server's coding
// where the request accepts it (Accept-Encoding), else none ("").
func (s *Server) coding(r *http.Request) string {
	c := s.cfg.Compress
	if c == "" || c == "none" {
		return ""
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), c) && !refused(params) {
			return c
		}
	}
	return ""
}

// refused is a coding's parameters saying q=0: "not acceptable".
func refused(params string) bool {
	for _, p := range strings.Split(params, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "q") {
			q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			return err == nil && q == 0
		}
	}
	return false
}

// compressAll is a buffered body compressed at once: the body and its
// compressed copy are both held until the copy is written.
func compressAll(coding string, body []byte) ([]byte, error) {
	var out bytes.Buffer
	cw, err := newCompressor(coding, &out)
	if err != nil {
		return nil, err
	}
	if _, err := cw.Write(body); err != nil {
		return nil, err
	}
	if err := cw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// checkCompress is Config.Compress's check.
func checkCompress(c string) error {
	if c == "" || slices.Contains(Compressions(), c) {
		return nil
	}
	return fmt.Errorf("compress %q: want one of %s", c, strings.Join(Compressions(), ", "))
}
