package request

import (
	"flag"
	"strings"

	"github.com/floodharness/harness/internal/units"
)

// Flags are curl's words for what each request sends, shared by `run`,
// `init` and `load`: -X/--method, -H/--header (repeatable), --body,
// --body-file, --body-size and --content-type.
type Flags struct {
	Method, Body, BodyFile, ContentType string
	Headers                             []string
	BodySize                            units.Bytes
	// BodySizeSet: --body-size was given (0 is a size).
	BodySizeSet bool
	// Compressed is --compressed (curl's word): ask for compressed
	// answers (AcceptEncoding) and decode them as they stream.
	Compressed bool
}

// AcceptEncoding is what a compressed client asks for: curl's
// --compressed set, every coding the client decodes.
const AcceptEncoding = "gzip, br, zstd, deflate"

// Register adds the flags to fs.
func (r *Flags) Register(fs *flag.FlagSet) {
	for _, name := range []string{"X", "method"} {
		fs.StringVar(&r.Method, name, "", "the request method, e.g. POST (default GET; POST with a body)")
	}
	for _, name := range []string{"H", "header"} {
		fs.Var((*headerList)(&r.Headers), name, "a request header 'Name: value' (repeatable); ${NAME} in single quotes is read from the environment and never written")
	}
	fs.StringVar(&r.Body, "body", "", "the request body, sent as is")
	fs.StringVar(&r.BodyFile, "body-file", "", "a file sent as each request's body (opened per request, never held whole)")
	fs.Var(sizeFlag{&r.BodySize, &r.BodySizeSet}, "body-size", "a generated body of this size per request, e.g. 8MiB (an upload flood)")
	fs.StringVar(&r.ContentType, "content-type", "", "the body's Content-Type, e.g. application/json")
	fs.BoolVar(&r.Compressed, "compressed", false, "ask for compressed answers (Accept-Encoding: "+AcceptEncoding+") and decode them as they stream: bytes on the wire and decoded both counted")
}

// headerList is a repeatable flag: -H 'A: 1' -H 'B: 2'.
type headerList []string

func (l *headerList) String() string     { return strings.Join(*l, "; ") }
func (l *headerList) Set(s string) error { *l = append(*l, s); return nil }

// sizeFlag is a size that remembers it was given.
type sizeFlag struct {
	b   *units.Bytes
	set *bool
}

func (s sizeFlag) String() string {
	if s.b == nil {
		return "0"
	}
	return s.b.String()
}

func (s sizeFlag) Set(v string) error {
	*s.set = true
	return s.b.UnmarshalText([]byte(v))
}
