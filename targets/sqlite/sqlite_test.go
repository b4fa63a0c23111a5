package sqlite

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/floodharness/harness/targets"
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
	synthetic := func(c *targets.Config) { c.Width = 16 }
	for _, impl := range targets.Impls() {
		fromDB := func(c *targets.Config) { c.Impl, c.Source, c.Width = impl, src, 16 }
		for _, format := range targets.Formats() {
			for _, q := range []string{"rows=1200", "rows=1000&since=17", "rows=5&since=5", "rows=700&since=499"} {
				path := "/export?format=" + format + "&" + q
				want, got := export(t, synthetic, path).Body.String(), export(t, fromDB, path).Body.String()
				if got != want {
					t.Errorf("%s %s: sqlite body (%d bytes) differs from synthetic (%d bytes)", impl, path, len(got), len(want))
				}
			}
		}
		if rec := export(t, fromDB, "/export?rows=3&width=64"); rec.Code != http.StatusBadRequest {
			t.Errorf("%s: width 64 from a 16-byte database: status %d, want 400", impl, rec.Code)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("OpenSQLite of a missing file succeeded")
	}
}

// export is what a server with cfg changed by mutate answers at path.
func export(t *testing.T, mutate func(*targets.Config), path string) *httptest.ResponseRecorder {
	t.Helper()
	cfg := targets.DefaultConfig()
	mutate(&cfg)
	srv, err := targets.New(cfg)
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	rec := httptest.NewRecorder()
	srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec
}
