package sqlite

import (
	"net/http"
	"path/filepath"
	"testing"

	"github.com/floodharness/harness/targets"
	"io"
	"net/http/httptest"
)

func TestSQLiteServesTheSyntheticBytes(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "rows.db")
	if err := Write(db, 1200, 16); err != nil { // more than two keyset pages
		t.Fatal(err)
	}
	src, err := Open(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	if src.Width() != 16 {
		t.Fatalf("Width() = %d, want 16", src.Width())
	}
	_, synthetic := newTestServer(t, func(c *targets.Config) { c.Width = 16 })
	for _, impl := range targets.Impls() {
		_, fromDB := newTestServer(t, func(c *targets.Config) { c.Impl, c.Source, c.Width = impl, src, 16 })
		for _, format := range targets.Formats() {
			for _, q := range []string{"rows=1200", "rows=1000&since=17", "rows=5&since=5", "rows=700&since=499"} {
				path := "/export?format=" + format + "&" + q
				_, want := get(t, synthetic+path)
				_, got := get(t, fromDB+path)
				if string(got) != string(want) {
					t.Errorf("%s %s: sqlite body (%d bytes) differs from synthetic (%d bytes)", impl, path, len(got), len(want))
				}
			}
		}
		if resp, _ := get(t, fromDB+"/export?rows=3&width=64"); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: width 64 from a 16-byte database: status %d, want 400", impl, resp.StatusCode)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("OpenSQLite of a missing file succeeded")
	}
}

func newTestServer(t *testing.T, mutate func(*targets.Config)) (*targets.Server, string) {
	t.Helper()
	cfg := targets.DefaultConfig()
	mutate(&cfg)
	srv, err := targets.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	return srv, ts.URL
}

func get(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read body: %v", url, err)
	}
	return resp, body
}
