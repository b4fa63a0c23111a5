package targets

import (
	"net/http"
	"path/filepath"
	"testing"
)

func TestSQLiteServesTheSyntheticBytes(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "rows.db")
	if err := WriteSQLite(db, 1200, 16); err != nil { // more than two keyset pages
		t.Fatal(err)
	}
	src, err := OpenSQLite(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	if src.Width() != 16 {
		t.Fatalf("Width() = %d, want 16", src.Width())
	}
	_, synthetic := newTestServer(t, func(c *Config) { c.Width = 16 })
	for _, impl := range Impls() {
		_, fromDB := newTestServer(t, func(c *Config) { c.Impl, c.Source, c.Width = impl, src, 16 })
		for _, format := range Formats() {
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
	if _, err := OpenSQLite(filepath.Join(t.TempDir(), "missing.db")); err == nil {
		t.Error("OpenSQLite of a missing file succeeded")
	}
}
