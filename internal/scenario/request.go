package scenario

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/floodharness/harness/internal/header"
	"github.com/floodharness/harness/internal/loopback"
	"github.com/floodharness/harness/internal/request"
	"github.com/floodharness/harness/internal/result"
)

// checkRequest checks a request: block (the scenario's or a target's).
func (s *Scenario) checkRequest(r Request, key string, bad func(key, format string, args ...any)) {
	if err := request.CheckMethod(r.Method); err != nil {
		bad(key+".method", "%v", err)
	}
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		if err := header.Check(name, r.Headers[name]); err != nil {
			bad(key+".headers."+name, "%v", err)
		}
		if http.CanonicalHeaderKey(name) == "Content-Type" && r.ContentType != "" {
			bad(key+".headers."+name, "give content_type or a Content-Type header, not both")
		}
	}
	n, err := request.Bodies(r.Body != "", r.BodyFile != "", r.BodySize != 0)
	if err != nil {
		bad(key+".body", "%v", err)
	}
	if r.BodySize < 0 {
		bad(key+".body_size", "want a size ≥ 0, got %v", r.BodySize)
	}
	if r.BodyFile != "" {
		if st, err := os.Stat(s.Path(r.BodyFile)); err != nil {
			bad(key+".body_file", "%v", err)
		} else if !st.Mode().IsRegular() {
			bad(key+".body_file", "%s is not a regular file", s.Path(r.BodyFile))
		}
	}
	if err := request.CheckBodyMethod(r.Method); n > 0 && err != nil {
		bad(key+".method", "%v", err)
	}
	if r.Rows != "" && slices.Contains(strings.Split(r.Rows, "."), "") {
		bad(key+".rows", "want a path of keys and indexes such as data or results.0.series.0.values, got %q", r.Rows)
	}
}

// Requests is the requests: key: a count (requests: 5, each client's
// number of requests) or a weighted mix (requests: [{name, weight, …}]).
type Requests struct {
	Count int
	Mix   []MixRequest `yaml:",list"`
}

// FromScalar reads requests: N.
func (r *Requests) FromScalar(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return errors.New("want a count of requests per client, or a list of weighted requests")
	}
	r.Count = n
	return nil
}

// MixRequest is one request of a weighted mix: its name (in results), its
// weight (relative to the others'), and what it sends, as request: says.
type MixRequest struct {
	Name    string  `yaml:"name"`
	Weight  float64 `yaml:"weight"`
	Request `yaml:",inline"`
}

// checkMix checks a weighted mix, which replaces request: and the
// targets' own paths and requests.
func (s *Scenario) checkMix(bad func(key, format string, args ...any)) {
	if len(s.Requests.Mix) == 0 {
		return
	}
	for _, k := range []string{"request.path", "request.method", "request.headers", "request.body", "request.body_file", "request.body_size", "request.content_type"} {
		if _, ok := s.lines[k]; ok {
			bad(k, "a requests: mix says what each request sends: give request: for timeout and validate only")
		}
	}
	for i, t := range s.Targets {
		if t.Path != "" || t.Request != nil {
			bad(fmt.Sprintf("targets[%d].path", i), "with a requests: mix every target is sent the mix: no path: or request: of its own")
		}
	}
	for i, m := range s.Requests.Mix {
		key := fmt.Sprintf("requests[%d]", i)
		if !safeName.MatchString(m.Name) {
			bad(key+".name", "want a name of letters, digits, '.', '_' or '-', got %q", m.Name)
		}
		for _, o := range s.Requests.Mix[:i] {
			if o.Name == m.Name {
				bad(key+".name", "request %q named twice", m.Name)
			}
		}
		if !(m.Weight > 0) || math.IsInf(m.Weight, 0) {
			bad(key+".weight", "want a weight above 0, got %v", m.Weight)
		}
		if !strings.HasPrefix(m.Path, "/") {
			bad(key+".path", "want a path starting with /, got %q", m.Path)
		}
		if m.Validate != "" && !slices.Contains(result.BodyChecks(), m.Validate) {
			bad(key+".validate", "want none, json, ndjson, csv or upload, got %q", m.Validate)
		}
		if m.Timeout != 0 {
			bad(key+".timeout", "timeout is the scenario's (request.timeout)")
		}
		s.checkRequest(m.Request, key, bad)
	}
}

// Mix is the weighted mix with each request's defaults filled: its method
// (GET, or POST with a body), validate (request.validate) and body file
// resolved; nil without a mix.
func (s *Scenario) Mix() []MixRequest {
	var out []MixRequest
	for _, m := range s.Requests.Mix {
		r := m.Request
		if r.Validate == "" {
			r.Validate = s.Request.Validate
		}
		if r.Rows == "" {
			r.Rows = s.Request.Rows
		}
		m.Request = s.defaulted(r)
		out = append(out, m)
	}
	return out
}

// Path resolves a path the scenario names relative to the file's folder.
func (s *Scenario) Path(p string) string {
	if filepath.IsAbs(p) || s.File == "" {
		return p
	}
	return filepath.Join(filepath.Dir(s.File), p)
}

// RequestOf is what target t is sent: the scenario's request: with the
// target's own over it, the method defaulted (GET, or POST with a body)
// and header values as written (${NAME} unexpanded).
func (s *Scenario) RequestOf(t Target) Request {
	r := s.Request
	r.Path = s.RequestPath(t)
	r.Headers = maps.Clone(r.Headers)
	if o := t.Request; o != nil {
		if o.Method != "" {
			r.Method = o.Method
		}
		if o.Body != "" || o.BodyFile != "" || o.BodySize != 0 {
			r.Body, r.BodyFile, r.BodySize = o.Body, o.BodyFile, o.BodySize
		}
		if o.ContentType != "" {
			r.ContentType = o.ContentType
		}
		if o.Rows != "" {
			r.Rows = o.Rows
		}
		for k, v := range o.Headers {
			for old := range r.Headers {
				if http.CanonicalHeaderKey(old) == http.CanonicalHeaderKey(k) {
					delete(r.Headers, old)
				}
			}
			if r.Headers == nil {
				r.Headers = map[string]string{}
			}
			r.Headers[k] = v
		}
	}
	return s.defaulted(r)
}

// defaulted fills what a request does not say: its method (GET, or POST
// with a body) and its body file's path from the scenario's folder.
// LoginRequest is the login: as sent (its method defaulted, its body
// file's path from here), nil without one.
func (s *Scenario) LoginRequest() *Request {
	if s.Login == nil {
		return nil
	}
	r := s.defaulted(*s.Login)
	return &r
}

func (s *Scenario) defaulted(r Request) Request {
	r.Headers = maps.Clone(r.Headers)
	if r.BodyFile != "" {
		r.BodyFile = s.Path(r.BodyFile)
	}
	r.Method = request.Method(r.Method, r.Body != "" || r.BodyFile != "" || r.BodySize != 0)
	return r
}

// Resolve expands the ${NAME} references of every header with getenv,
// once, at the start of a run: an unset variable is bad input at its
// line. The values are kept apart (Header) and never written; Redact
// turns them back into ${NAME} in any text.
func (s *Scenario) Resolve(getenv func(string) (string, bool)) error {
	s.secrets = map[string]string{}
	var errs []error
	check := func(key string, headers map[string]string) {
		for _, name := range slices.Sorted(maps.Keys(headers)) {
			for _, m := range header.Refs(headers[name]) {
				v, ok := getenv(m[1])
				switch {
				case !ok:
					errs = append(errs, s.keyError(key+".headers."+name, fmt.Sprintf("%s is not set in the environment", m[0])))
				case v != "":
					s.secrets[m[0]] = v
				}
			}
		}
	}
	check("request", s.Request.Headers)
	if s.Login != nil {
		check("login", s.Login.Headers)
	}
	for i, m := range s.Requests.Mix {
		check(fmt.Sprintf("requests[%d]", i), m.Headers)
	}
	for i, t := range s.Targets {
		if t.Request != nil {
			check(fmt.Sprintf("targets[%d].request", i), t.Request.Headers)
		}
	}
	return errors.Join(errs...)
}

// Header is the header target t sends, ${NAME} expanded (Resolve first)
// and Content-Type from content_type.
func (s *Scenario) Header(t Target) http.Header { return s.HeaderOf(s.RequestOf(t)) }

// HeaderOf is the header request r sends, ${NAME} expanded (Resolve
// first) and Content-Type from content_type.
func (s *Scenario) HeaderOf(r Request) http.Header {
	h := http.Header{}
	for k, v := range r.Headers {
		h.Set(k, header.Expand(v, s.secrets))
	}
	if r.ContentType != "" {
		h.Set("Content-Type", r.ContentType)
	}
	if s.Client.Compressed && h.Get("Accept-Encoding") == "" {
		h.Set("Accept-Encoding", request.AcceptEncoding)
	}
	return h
}

// Redact replaces every value a ${NAME} expanded to with ${NAME}, so text
// the harness writes (logs, errors, reports) never holds a secret.
func (s *Scenario) Redact(text string) string {
	refs := slices.Collect(maps.Keys(s.secrets))
	// Longer values first, so one that holds another is replaced whole.
	sort.Slice(refs, func(i, j int) bool { return len(s.secrets[refs[i]]) > len(s.secrets[refs[j]]) })
	for _, ref := range refs {
		text = strings.ReplaceAll(text, s.secrets[ref], ref)
	}
	return text
}

// keyError is a problem at key, where the flag or the file set it.
func (s *Scenario) keyError(key, msg string) error {
	o := s.Origin(key)
	return &Error{Flag: o.Flag, File: o.File, Line: o.Line, Key: key, Msg: msg}
}

// checkTLS checks a target's tls: and how it fits client.http.
func (s *Scenario) checkTLS(t Target, key string, bad func(key, format string, args ...any)) {
	c := t.TLS
	switch {
	case c == nil && s.Client.HTTP == "2":
		bad("client.http", "http 2 is HTTP/2 over TLS: target %q needs tls: (or http: h2c for cleartext)", t.Name)
	case c == nil:
	case s.Client.HTTP == "h2c":
		bad(key+".tls", "http h2c is cleartext: a tls: target wants http 2")
	case c.Insecure && c.CA != "":
		bad(key+".tls", "give ca or insecure, not both")
	case c.Insecure && !loopback.Host(t.Host):
		bad(key+".tls.insecure", "an unchecked certificate only on loopback; give ca: for %s", t.Host)
	case !c.Insecure && c.CA == "":
		bad(key+".tls", "want ca: FILE (the PEM certificate that signed the server's) or insecure: true (loopback only)")
	case c.CA != "":
		if _, err := os.Stat(s.Path(c.CA)); err != nil {
			bad(key+".tls.ca", "%v", err)
		}
	}
}

// TLSConfig is the client's TLS configuration for target t, nil when it
// serves plain HTTP.
func (s *Scenario) TLSConfig(t Target) (*tls.Config, error) {
	c := t.TLS
	if c == nil {
		return nil, nil
	}
	if c.Insecure {
		return &tls.Config{InsecureSkipVerify: true}, nil // loopback only: checked above
	}
	pem, err := os.ReadFile(s.Path(c.CA))
	if err != nil {
		return nil, fmt.Errorf("target %q: tls.ca: %w", t.Name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("target %q: tls.ca: %s holds no PEM certificate", t.Name, s.Path(c.CA))
	}
	return &tls.Config{RootCAs: pool}, nil
}
