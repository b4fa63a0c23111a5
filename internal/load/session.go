package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"

	"github.com/floodharness/harness/internal/header"
)

// session is one client's own state across its requests, as a browser's
// or a k6 VU's: the cookies servers set (a jar of its own, made at the
// first Set-Cookie), and what its login answered, for ${login.NAME} in
// headers. It lives in the client's memory only.
type session struct {
	jar      *cookiejar.Jar
	values   map[string]string // ${login.NAME} → the login answer's NAME
	loggedIn bool
}

// cookie is the Cookie header the client sends to u ("" for none).
func (s *session) cookie(u *url.URL) string {
	if s == nil || s.jar == nil {
		return ""
	}
	var b strings.Builder
	for i, c := range s.jar.Cookies(u) {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Name + "=" + c.Value)
	}
	return b.String()
}

// keep stores the cookies a response to u set.
func (s *session) keep(u *url.URL, setCookies []string) {
	if len(setCookies) == 0 {
		return
	}
	var cs []*http.Cookie
	for _, line := range setCookies {
		if c, err := http.ParseSetCookie(line); err == nil {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return
	}
	if s.jar == nil {
		s.jar, _ = cookiejar.New(nil)
	}
	s.jar.SetCookies(u, cs)
}

// expand is a header value with ${login.NAME} replaced by what the login
// answered.
func (s *session) expand(v string) string {
	if s == nil || !strings.Contains(v, "${login.") {
		return v
	}
	return header.ExpandLogin(v, s.values)
}

// maxLoginBody bounds the login answer read for its token.
const maxLoginBody = 1 << 20

// login sends the scenario's login request over Go's client (once a
// client, and again after a 401), keeps the cookies it sets, and takes
// each ${login.NAME} the requests use from its answer: a field of its JSON
// (a dotted path: data.token) or else a cookie it set. A failure says why.
func (f *flood) login(ctx context.Context, s *session) error {
	lg := f.o.Login
	u, err := url.Parse(lg.URL)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, lg.Method, lg.URL, nil)
	if err != nil {
		return err
	}
	if !lg.Body.empty() {
		rc, n, err := lg.Body.open()
		if err != nil {
			return fmt.Errorf("login body: %w", err)
		}
		req.Body, req.ContentLength = rc, n
	}
	for k, vs := range lg.Header {
		req.Header[k] = vs
	}
	if c := s.cookie(u); c != "" {
		req.Header.Set("Cookie", c)
	}
	resp, err := f.loginClient().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxLoginBody))
	s.keep(u, resp.Header.Values("Set-Cookie"))
	if resp.StatusCode >= 400 { // 2xx, or a redirect that set the cookie (not followed)
		return fmt.Errorf("login %s %s: HTTP %d, its body began %s", lg.Method, u.Path, resp.StatusCode, strconv.Quote(string(answer[:min(len(answer), 64)])))
	}
	var doc any
	_ = json.Unmarshal(answer, &doc) // a login may answer with a cookie alone
	values := map[string]string{}
	for _, name := range f.loginNames {
		v, ok := jsonField(doc, name)
		if !ok {
			for _, c := range resp.Cookies() {
				if c.Name == name {
					v, ok = c.Value, true
				}
			}
		}
		if !ok {
			return fmt.Errorf("login %s %s: its answer has no field and set no cookie %q (for ${login.%s})", lg.Method, u.Path, name, name)
		}
		values[name] = v
	}
	s.values, s.loggedIn = values, true
	return nil
}

// jsonField is the value at a dotted path of a decoded JSON document, as
// text: a string as it is, anything else as its JSON.
func jsonField(doc any, path string) (string, bool) {
	for _, key := range strings.Split(path, ".") {
		switch d := doc.(type) {
		case map[string]any:
			v, ok := d[key]
			if !ok {
				return "", false
			}
			doc = v
		case []any:
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 || i >= len(d) {
				return "", false
			}
			doc = d[i]
		default:
			return "", false
		}
	}
	if s, ok := doc.(string); ok {
		return s, true
	}
	b, err := json.Marshal(doc)
	return string(b), err == nil && doc != nil
}

// loginClient is the Go client logins go through: the flood's TLS
// settings, no pool kept between them (a login is once a client).
func (f *flood) loginClient() *http.Client {
	f.loginOnce.Do(func() {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig, tr.DisableKeepAlives = f.o.TLS, true
		f.loginHTTP = &http.Client{Transport: tr, Timeout: f.o.Timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	})
	return f.loginHTTP
}
