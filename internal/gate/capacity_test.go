package gate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/result"
)

// A capacity.json is judged by the capacity rules: min, and a tolerance
// against the baseline's, with the verdict in words in every output.
func TestCapacityGate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	capFile := func(name string, n int) string {
		p := filepath.Join(dir, name)
		if err := result.WriteCapacity(p, &result.Capacity{Schema: result.CapacitySchema, Scenario: result.Scenario{Name: "s", File: "s.yaml"}, Repeats: 3,
			Targets: []result.CapacityTarget{{Target: "buffered", LimitBytes: 512 << 20, LimitBy: result.LimitCgroup, Capacity: n, FirstFailing: n + 1}}}); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("baseline: "+filepath.Join(dir, "base", "results.json")+"\nrules:\n  - {metric: capacity, min: 4}\n  - {metric: capacity, tolerance: 10%}\n"), 0o644)
	// The baseline goes beside the rules' results baseline.
	var out bytes.Buffer
	if err := Run(RunOptions{Current: capFile("before.json", 23), Rules: rules, UpdateBaseline: true, Stdout: &out}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "base", "capacity.json")); err != nil {
		t.Fatalf("capacity baseline not written: %v\n%s", err, out.String())
	}
	md, junit := filepath.Join(dir, "gate.md"), filepath.Join(dir, "junit.xml")
	out.Reset()
	if err := Run(RunOptions{Current: capFile("same.json", 22), Rules: rules, Stdout: &out}); err != nil {
		t.Errorf("capacity 23 → 22 within 10%%: %v\n%s", err, out.String())
	}
	out.Reset()
	err := Run(RunOptions{Current: capFile("after.json", 9), Rules: rules, Markdown: md, JUnit: junit, Stdout: &out})
	const sentence = "capacity under 512 MiB fell from 23 to 9 concurrent downloads"
	if fault.KindOf(err) != fault.Regression || !strings.Contains(out.String(), sentence) {
		t.Errorf("capacity 23 → 9: %v\n%s", err, out.String())
	}
	for _, f := range []string{md, junit} {
		if b, _ := os.ReadFile(f); !strings.Contains(string(b), sentence) {
			t.Errorf("%s lacks %q:\n%s", f, sentence, b)
		}
	}
	out.Reset()
	if err := Run(RunOptions{Current: capFile("low.json", 3), Rules: rules, Stdout: &out}); fault.KindOf(err) != fault.Regression || !strings.Contains(out.String(), "below min 4") {
		t.Errorf("capacity 3 under min 4: %v\n%s", err, out.String())
	}
}
