package main

import (
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/result"
)

// gateFixture writes a small results file and a rules file into dir.
func gateFixture(t *testing.T, dir string, streamedPeaksMiB ...float64) string {
	t.Helper()
	r := &result.Results{Schema: result.Schema, Scenario: result.Scenario{Name: "g", File: "nowhere.yaml"}}
	for i, l := range []int{1, 8} {
		r.Runs = append(r.Runs,
			result.Run{Target: "streamed", Concurrency: l, Client: result.Client{Requests: 5, OK: 5}, PeakRSSBytes: int64(streamedPeaksMiB[i] * (1 << 20))},
			result.Run{Target: "buffered", Concurrency: l, Client: result.Client{Requests: 5, OK: 5}, PeakRSSBytes: int64(50+100*i) << 20})
	}
	path := filepath.Join(dir, "results.json")
	if err := result.Write(path, r); err != nil {
		t.Fatal(err)
	}
	return path
}

const gateRules = `rules:
  - {metric: peak_rss_bytes, tolerance: 5%}
  - {metric: peak_rss_slope, target: streamed, max: 1MiB}
  - {metric: oom, oom: never}
`

// gateDir holds gate rules and, per name, a results fixture.
func gateDir(t *testing.T) (dir, rules string, mk func(name string, peaks ...float64) string) {
	t.Helper()
	dir = t.TempDir()
	rules = filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte(gateRules), 0o644)
	return dir, rules, func(name string, peaks ...float64) string {
		d := filepath.Join(dir, name)
		os.MkdirAll(d, 0o755)
		return gateFixture(t, d, peaks...)
	}
}

func TestGateExitCodes(t *testing.T) {
	t.Parallel()
	dir, rules, mk := gateDir(t)
	base := mk("base", 100, 100)
	same := mk("same", 100, 100)
	tenPercent := mk("ten", 110, 110)
	sloped := mk("sloped", 20, 40) // ~2.9 MiB per extra client: buffering again
	junit := filepath.Join(dir, "junit.xml")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"same results pass", []string{"--current", same, "--baseline", base, "--rules", rules}, 0, "gate: 9 passed, 0 failed", ""},
		{"the baseline against itself", []string{"--current", base, "--baseline", base, "--rules", rules}, 0, "PASS", ""},
		{"a 10% peak regression", []string{"--current", tenPercent, "--baseline", base, "--rules", rules, "--junit", junit}, 1, "+10.0%", "regression"},
		{"a slope regression", []string{"--current", sloped, "--baseline", sloped, "--rules", rules}, 1, "above max 1.00 MiB/client", ""},
		{"unreadable current", []string{"--current", filepath.Join(dir, "nope.json"), "--rules", rules}, 2, "", "nope.json"},
		{"missing --current", []string{"--rules", rules}, 2, "", "--current"},
		{"unknown rules file", []string{"--current", base, "--rules", filepath.Join(dir, "missing.yaml")}, 2, "", "missing.yaml"},
	}
	for _, tt := range tests {
		code, stdout, stderr := harnessRun(t, append([]string{"gate"}, tt.args...)...)
		if code != tt.code || !strings.Contains(stdout, tt.stdout) || !strings.Contains(stderr, tt.stderr) {
			t.Errorf("%s: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s", tt.name, code, tt.code, stdout, stderr)
		}
	}
	b, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var suite struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
	}
	if err := xml.Unmarshal(b, &suite); err != nil || suite.Failures != 1 || suite.Tests != 5 {
		t.Errorf("JUnit: %+v, %v\n%s", suite, err, b)
	}
}

// A side output that cannot be written is reported, but never turns a
// regression's exit 1 into another code (nor a pass into a regression).
func TestGateOutputFailureKeepsVerdict(t *testing.T) {
	t.Parallel()
	dir, rules, mk := gateDir(t)
	base, worse := mk("base", 100, 100), mk("worse", 120, 120)
	unwritable := filepath.Join(dir, "no", "such", "dir", "junit.xml")
	code, _, stderr := harnessRun(t, "gate", "--current", worse, "--baseline", base, "--rules", rules, "--junit", unwritable, "--markdown", unwritable)
	if code != 1 || !strings.Contains(stderr, "write "+unwritable) || !strings.Contains(stderr, "regression") {
		t.Errorf("regression with unwritable outputs: exit %d, want 1 naming the file and the regression\n%s", code, stderr)
	}
	code, _, stderr = harnessRun(t, "gate", "--current", base, "--baseline", base, "--rules", rules, "--junit", unwritable)
	if code != 3 || !strings.Contains(stderr, "write "+unwritable) {
		t.Errorf("pass with an unwritable output: exit %d, want 3 naming the file\n%s", code, stderr)
	}
}

func TestGateBadInput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cur := gateFixture(t, dir, 100, 100)
	wrongSchema := filepath.Join(dir, "old.json")
	os.WriteFile(wrongSchema, []byte(`{"schema":"flood-harness/results/v0","runs":[]}`), 0o644)
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o644)
		return p
	}
	tests := []struct {
		name, current, rules, want string
	}{
		{"wrong schema", wrongSchema, write("r1.yaml", gateRules), `schema "flood-harness/results/v0"`},
		{"unknown metric", cur, write("r2.yaml", "rules:\n  - {metric: ok_ratio, min: 1}\n  - {metric: rss, max: 1MiB}\n"), `r2.yaml:3: metric "rss"`},
		{"unknown target", cur, write("r3.yaml", "rules:\n  - {metric: ok_ratio, min: 1, target: nginx}\n"), `r3.yaml:2: target "nginx"`},
		{"unknown key", cur, write("r4.yaml", "rules:\n  - {metric: ok_ratio, minimum: 1}\n"), `r4.yaml:2: rules[0].minimum: unknown key`},
		{"tolerance without baseline", cur, write("r5.yaml", "rules:\n  - {metric: mbps, tolerance: 10%}\n"), `r5.yaml:2: mbps: a tolerance rule needs a baseline`},
	}
	for _, tt := range tests {
		code, _, stderr := harnessRun(t, "gate", "--current", tt.current, "--rules", tt.rules)
		if code != 2 || !strings.Contains(stderr, tt.want) {
			t.Errorf("%s: exit %d, stderr %q; want exit 2 with %q", tt.name, code, stderr, tt.want)
		}
	}
}

func TestGateUpdateBaselineIsExplicit(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cur := gateFixture(t, dir, 100, 100)
	rules := filepath.Join(dir, "rules.yaml")
	basePath := filepath.Join(dir, "baseline", "results.json")
	os.WriteFile(rules, []byte("baseline: "+basePath+"\n"+gateRules), 0o644)
	if code, _, stderr := harnessRun(t, "gate", "--current", cur, "--rules", rules); code != 2 || !strings.Contains(stderr, "baseline") {
		t.Errorf("gate without a baseline file: exit %d, %s", code, stderr)
	}
	if _, err := os.Stat(basePath); !os.IsNotExist(err) {
		t.Fatal("a gate run wrote a baseline without being asked")
	}
	if code, stdout, _ := harnessRun(t, "gate", "--current", cur, "--rules", rules, "--update-baseline"); code != 0 || !strings.Contains(stdout, "baseline updated") {
		t.Errorf("--update-baseline: exit %d, %s", code, stdout)
	}
	if code, _, stderr := harnessRun(t, "gate", "--current", cur, "--rules", rules); code != 0 {
		t.Errorf("gate against the new baseline: exit %d, %s", code, stderr)
	}
}

// A real regression, planted in the server and measured end to end, fails
// the gate that passes the unchanged server.
func TestGateCatchesPlantedRegression(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sc := func(name, extra string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(`name: `+name+`
levels: [1, 8]
duration: 1500ms
request:
  path: /export?rows=2000&width=2000
targets:
  - name: streamed
    command: [harness, serve, --impl, streamed, `+extra+`--port, "{port}"]
`), 0o644)
		return p
	}
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("rules:\n  - {metric: peak_rss_slope, target: streamed, max: 1MiB}\n  - {metric: peak_rss_bytes, tolerance: 50%}\n"), 0o644)
	for _, run := range []struct{ name, scenario string }{
		{"plain", sc("plain.yaml", "")},
		{"leaky", sc("leaky.yaml", "--retain-bytes, 4MiB, ")},
	} {
		if code, _, stderr := harnessRun(t, "run", "--out", filepath.Join(dir, run.name), run.scenario); code != 0 {
			t.Fatalf("run %s: exit %d\n%s", run.name, code, stderr)
		}
	}
	plain, leaky := filepath.Join(dir, "plain", "results.json"), filepath.Join(dir, "leaky", "results.json")
	if code, stdout, _ := harnessRun(t, "gate", "--current", plain, "--baseline", plain, "--rules", rules); code != 0 {
		t.Errorf("the unchanged server failed its own gate:\n%s", stdout)
	}
	code, stdout, _ := harnessRun(t, "gate", "--current", leaky, "--baseline", plain, "--rules", rules)
	if code != 1 || strings.Count(stdout, "FAIL") < 2 {
		t.Errorf("the planted regression: exit %d, want 1 with the slope and the tolerance failing\n%s", code, stdout)
	}
}
