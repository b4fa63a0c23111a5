package load

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds what one zstd answer may make its decoder hold
// (RFC 8878 asks decoders to support 8 MiB windows): a flood of
// compressed answers must not cost the client what it measures.
const maxZstdWindow = 8 << 20

// wire counts the bytes a decoder reads off the connection, and keeps the
// connection's own error apart from the decoder's.
type wire struct {
	r   io.Reader
	n   int64
	err error
}

func (w *wire) Read(p []byte) (int, error) {
	k, err := w.r.Read(p)
	w.n += int64(k)
	if err != nil {
		w.err = err
	}
	return k, err
}

// decoding is a body read through its Content-Encoding's decoder: the
// decoded bytes for checking, the wire bytes counted apart.
type decoding struct {
	wire  *wire
	r     io.Reader
	close func()
}

// decode puts a decoder for enc (a Content-Encoding value) over body. An
// identity body (no encoding) gets none: nil. A coding the client cannot
// decode is an error naming it.
func decode(enc string, body io.Reader) (*decoding, error) {
	codings := strings.Split(enc, ",")
	if enc = strings.ToLower(strings.TrimSpace(enc)); enc == "" || enc == "identity" {
		return nil, nil
	}
	if len(codings) > 1 {
		return nil, fmt.Errorf("Content-Encoding %q: more than one coding, which the client does not decode", enc)
	}
	w := &wire{r: body}
	d := &decoding{wire: w, close: func() {}}
	switch enc {
	case "gzip", "x-gzip":
		d.r = &lazy{open: func() (io.Reader, error) { return gzip.NewReader(w) }}
	case "deflate": // HTTP's deflate is the zlib format (RFC 9110 §8.4.1.2)
		d.r = &lazy{open: func() (io.Reader, error) { return zlib.NewReader(w) }}
	case "br":
		d.r = brotli.NewReader(w)
	case "zstd":
		zr, err := zstd.NewReader(w, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(maxZstdWindow))
		if err != nil {
			return nil, err
		}
		d.r, d.close = zr, zr.Close
	default:
		return nil, fmt.Errorf("Content-Encoding %q, which the client does not decode (it decodes gzip, br, zstd, deflate)", enc)
	}
	return d, nil
}

// outcome says what a decoder's error means: the connection's own error
// (or its early end: truncated) is the connection's; anything else is a
// body that is not what its Content-Encoding says.
func (d *decoding) outcome(err error) (error, bool) {
	if d.wire.err != nil && !errors.Is(d.wire.err, io.EOF) {
		return d.wire.err, false
	}
	if errors.Is(err, io.ErrUnexpectedEOF) && errors.Is(d.wire.err, io.EOF) {
		return err, false
	}
	return err, true
}

// lazy opens its reader on the first Read: gzip and zlib read their header
// when made, which is a read off the connection, paced like any other.
type lazy struct {
	open func() (io.Reader, error)
	r    io.Reader
}

func (l *lazy) Read(p []byte) (int, error) {
	if l.r == nil {
		r, err := l.open()
		if err != nil {
			return 0, err
		}
		l.r = r
	}
	return l.r.Read(p)
}
