package history

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// An append keeps every line before it; a line that is not an entry is
// bad input naming its line.
func TestAppendAndRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 3 {
		if _, err := Append(dir, Entry{Schema: Schema, Scenario: "s", Commit: string(rune('a' + i)), Time: time.Unix(int64(i), 0).UTC()}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := Read(File(dir, "s"))
	if err != nil || len(got) != 3 || got[2].Commit != "c" {
		t.Fatalf("read %+v, %v", got, err)
	}
	bad := filepath.Join(dir, "bad.jsonl")
	b, _ := os.ReadFile(File(dir, "s"))
	os.WriteFile(bad, append(b, []byte("{\"schema\": 1}\n")...), 0o644)
	if _, err := Read(bad); err == nil || !strings.Contains(err.Error(), "bad.jsonl:4:") {
		t.Errorf("a bad 4th line: %v", err)
	}
}

// Any bytes read as a history either parse or name a line; never panic.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"schema":"flood-harness/history/v1","scenario":"s","figures":[{"target":"a","level":1,"metric":"peak","median":1}]}` + "\n"))
	f.Add([]byte("\n\n{}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "h.jsonl")
		os.WriteFile(p, b, 0o644)
		if entries, err := Read(p); err == nil {
			for _, e := range entries {
				if e.Schema != Schema {
					t.Errorf("an entry of schema %q read", e.Schema)
				}
			}
		} else if !strings.Contains(err.Error(), "h.jsonl") {
			t.Errorf("an error without its file: %v", err)
		}
	})
}

// An append killed mid-write leaves at most its temporary file: the
// history reads as it was, and the next append keeps every line.
func TestAnInterruptedAppendLosesNothing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for i := range 2 {
		if _, err := Append(dir, Entry{Schema: Schema, Scenario: "s", Commit: string(rune('a' + i))}); err != nil {
			t.Fatal(err)
		}
	}
	path := File(dir, "s")
	kept, _ := os.ReadFile(path)
	os.WriteFile(path+".tmp", kept[:len(kept)/2], 0o644) // the write the kill cut short
	if got, err := Read(path); err != nil || len(got) != 2 {
		t.Fatalf("after an interrupted append: %d entries, %v; want the 2 kept", len(got), err)
	}
	if _, err := Append(dir, Entry{Schema: Schema, Scenario: "s", Commit: "c"}); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(path); err != nil || len(got) != 3 || got[0].Commit != "a" || got[2].Commit != "c" {
		t.Errorf("the next append: %+v, %v; want a, b, c", got, err)
	}
}
