package load

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/floodharness/harness/internal/result"
)

// sessionServer logs clients in (POST /login: a cookie sid and a token in
// its JSON answer) and answers /export only to a request carrying both of
// the same login; every fourth request of a session ends it with a 401.
func sessionServer(t *testing.T) (*httptest.Server, *sync.Map) {
	var mu sync.Mutex
	next, used := 0, &sync.Map{}
	calls := map[string]int{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch r.URL.Path {
		case "/login":
			if b, _ := io.ReadAll(r.Body); r.Method != http.MethodPost || string(b) != `{"user": "u"}` {
				http.Error(w, "who?", http.StatusForbidden)
				return
			}
			next++
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: fmt.Sprint(next), Path: "/"})
			fmt.Fprintf(w, `{"data": {"token": "t%d"}}`, next)
		case "/export":
			c, err := r.Cookie("sid")
			if err != nil || r.Header.Get("Authorization") != "Bearer t"+c.Value {
				http.Error(w, "no session", http.StatusUnauthorized)
				return
			}
			if calls[c.Value]++; calls[c.Value] == 4 {
				http.Error(w, "session expired", http.StatusUnauthorized)
				return
			}
			used.Store(c.Value, true)
			fmt.Fprint(w, `[{"id": 1}]`)
		}
	}))
	t.Cleanup(ts.Close)
	return ts, used
}

// Each client logs in before its first request, sends the token its login
// answered (${login.data.token}) and the cookie it set, from a jar of its
// own; a session the server ends (401) is logged into again once and the
// request asked again: every request served.
func TestSessions(t *testing.T) {
	t.Parallel()
	ts, used := sessionServer(t)
	login := &Request{URL: ts.URL + "/login", Method: http.MethodPost, Header: http.Header{"Content-Type": {"application/json"}}, Body: Body{Data: []byte(`{"user": "u"}`)}}
	res := runLoad(t, Options{URL: ts.URL + "/export", Concurrency: 3, Total: 30, Validate: result.CheckJSON, Login: login,
		Header: http.Header{"Authorization": {"Bearer ${login.data.token}"}}})
	sessions := 0
	used.Range(func(any, any) bool { sessions++; return true })
	if res.OK != 30 || res.Failed != 0 || res.Relogins == 0 || res.Logins != 3+res.Relogins || sessions < 3 {
		t.Errorf("ok %d, failed %d %v %+v, logins %d, relogins %d, sessions used %d", res.OK, res.Failed, res.Errors, res.Reasons, res.Logins, res.Relogins, sessions)
	}
}

// A login that fails fails its client's requests as login, with the
// server's answer as the reason; a ${login.NAME} the login does not answer
// says which; one without a login is refused before the flood.
func TestFailedLogins(t *testing.T) {
	t.Parallel()
	ts, _ := sessionServer(t)
	for _, tt := range []struct {
		name, body, header, reason string
	}{
		{"refused", `{"user": "x"}`, "Bearer ${login.data.token}", "HTTP 403"},
		{"no such field", `{"user": "u"}`, "Bearer ${login.token}", `no field and set no cookie "token"`},
	} {
		login := &Request{URL: ts.URL + "/login", Body: Body{Data: []byte(tt.body)}}
		res := runLoad(t, Options{URL: ts.URL + "/export", Concurrency: 1, Total: 2, Login: login, Header: http.Header{"Authorization": {tt.header}}})
		if res.Errors[result.OutcomeLogin] != 2 || len(res.Reasons) == 0 || !strings.Contains(res.Reasons[0].Reason, tt.reason) {
			t.Errorf("%s: errors %v, reasons %+v; want login failures saying %q", tt.name, res.Errors, res.Reasons, tt.reason)
		}
	}
	if _, err := Run(t.Context(), Options{URL: ts.URL, Concurrency: 1, Duration: 1, Header: http.Header{"X": {"${login.a}"}}}); err == nil || !strings.Contains(err.Error(), "no login request") {
		t.Errorf("${login.a} without a login: %v", err)
	}
}
