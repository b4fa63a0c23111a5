package gate

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"html"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

// res builds results: peaks[target][level] lists the repeats' peaks in MiB.
func res(peaks map[string]map[int][]float64) *result.Results {
	r := &result.Results{Schema: result.Schema}
	for _, tg := range []string{"buffered", "streamed"} {
		for _, l := range []int{1, 4, 16} {
			for rep, p := range peaks[tg][l] {
				r.Runs = append(r.Runs, result.Run{
					Target: tg, Concurrency: l, Repeat: rep,
					Client: result.Client{Requests: 10, OK: 10, DurationS: 1, BytesReceived: 1e8,
						LatencyMs: result.Latency{P50: 10, P99: 20}},
					PeakRSSBytes: int64(p * (1 << 20)),
				})
			}
		}
	}
	return r
}

func base() map[string]map[int][]float64 {
	return map[string]map[int][]float64{
		"buffered": {1: {40}, 4: {120}, 16: {440}},
		"streamed": {1: {15}, 4: {15.5}, 16: {16}},
	}
}

func rules(t *testing.T, yaml string) *scenario.Gate {
	t.Helper()
	dir := t.TempDir() + "/rules.yaml"
	if err := writeFile(dir, yaml); err != nil {
		t.Fatal(err)
	}
	g, err := scenario.LoadGate(dir)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func evaluate(t *testing.T, cur, baseline *result.Results, g *scenario.Gate) *Report {
	t.Helper()
	rep, err := Evaluate(Options{Current: cur, Baseline: baseline, Rules: g})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

const ciRules = `rules:
  - {metric: peak_rss_bytes, tolerance: 5%}
  - {metric: peak_rss_slope, target: streamed, max: 1MiB}
  - {metric: peak_rss_slope, tolerance: 50%}
  - {metric: ok_ratio, min: 1}
  - {metric: oom, oom: never}
  - {metric: latency_p99_ms, tolerance: 50%}
`

func TestSameResultsPass(t *testing.T) {
	t.Parallel()
	r := res(base())
	rep := evaluate(t, r, res(base()), rules(t, ciRules))
	if rep.Failed() != 0 || len(rep.Checks) != 6+1+2+6+6+6 {
		var b bytes.Buffer
		rep.WriteTable(&b)
		t.Errorf("%d failed of %d checks:\n%s", rep.Failed(), len(rep.Checks), b.String())
	}
}

func TestTenPercentPeakRegressionFails(t *testing.T) {
	t.Parallel()
	p := base()
	p["buffered"][16] = []float64{440 * 1.10}
	rep := evaluate(t, res(p), res(base()), rules(t, "rules:\n  - {metric: peak_rss_bytes, tolerance: 5%}\n"))
	if rep.Failed() != 1 {
		t.Fatalf("%d checks failed, want only buffered at c=16", rep.Failed())
	}
	for _, c := range rep.Checks {
		if !c.Pass && (c.Target != "buffered" || c.Level != 16 || !strings.Contains(c.Note, "allowed up to")) {
			t.Errorf("failed check %+v", c)
		}
	}
}

func TestRepeatsNoiseAndSignificance(t *testing.T) {
	t.Parallel()
	g := rules(t, "rules:\n  - {metric: peak_rss_bytes, target: buffered, level: 16, tolerance: 5%}\n")
	baseline := base()
	baseline["buffered"][16] = []float64{100, 101, 99}
	tests := []struct {
		name string
		cur  []float64
		pass bool
		note string
	}{
		{"same", []float64{100, 101, 99}, true, ""},
		{"within tolerance", []float64{103, 104, 102}, true, ""},
		{"beyond tolerance inside its own spread", []float64{80, 110, 125}, true, ""},
		{"beyond tolerance, not significant", []float64{99, 120, 121}, true, "not significant"},
		{"clear 10% regression", []float64{110, 111, 109}, false, "Mann–Whitney p=0.050"},
	}
	for _, tt := range tests {
		cur := base()
		cur["buffered"][16] = tt.cur
		rep := evaluate(t, res(cur), res(baseline), g)
		c := rep.Checks[0]
		if c.Pass != tt.pass || !strings.Contains(c.Note, tt.note) {
			t.Errorf("%s: pass=%v note %q; want pass=%v with %q", tt.name, c.Pass, c.Note, tt.pass, tt.note)
		}
	}
}

func TestSlopeRegression(t *testing.T) {
	t.Parallel()
	leaky := base()
	leaky["streamed"] = map[int][]float64{1: {16}, 4: {28}, 16: {76}} // 4 MiB per client
	rep := evaluate(t, res(leaky), res(base()), rules(t, ciRules))
	var failed []string
	for _, c := range rep.Checks {
		if !c.Pass {
			failed = append(failed, c.Rule+"/"+c.Target)
		}
	}
	want := []string{
		"peak_rss_bytes within +5% of baseline/streamed", "peak_rss_bytes within +5% of baseline/streamed",
		"peak_rss_slope ≤ 1.00 MiB/client/streamed", "peak_rss_slope within +50% of baseline/streamed",
	}
	if strings.Join(failed, ",") != strings.Join(want, ",") {
		t.Errorf("failed %q, want %q", failed, want)
	}
}

func TestOOMAndNotMeasured(t *testing.T) {
	t.Parallel()
	r := res(base())
	r.Runs[2].OOMKilled = true // buffered c=16
	r.Runs[3].Error, r.Runs[3].OK = "never healthy", 0
	rep := evaluate(t, r, nil, rules(t, "rules:\n  - {metric: oom, oom: never}\n  - {metric: ok_ratio, min: 1}\n"))
	var notes []string
	for _, c := range rep.Checks {
		if !c.Pass {
			notes = append(notes, c.Target+":"+c.Note)
		}
	}
	if strings.Join(notes, ",") != "buffered:OOM-killed,streamed:not measured" {
		t.Errorf("failures %q", notes)
	}
}

func TestBadRules(t *testing.T) {
	t.Parallel()
	r := res(base())
	tests := map[string]string{
		"rules:\n  - {metric: peak_rss, max: 1MiB}\n":                                   `:2: metric "peak_rss": want one of`,
		"rules:\n  - {metric: ok_ratio, min: 1, target: nginx}\n":                       `:2: target "nginx": not in the current results`,
		"rules:\n  - {metric: peak_rss_bytes, max: lots}\n":                             `:2: max: "lots" is not a number`,
		"rules:\n  - {metric: ok_ratio}\n":                                              `:2: ok_ratio: give max, min or tolerance`,
		"rules:\n  - {metric: oom}\n":                                                   `:2: metric oom: want oom: never`,
		"rules:\n  - {metric: ok_ratio, min: 1}\n  - {metric: mbps, tolerance: much}\n": `:3: tolerance: "much"`,
		"rules:\n  - {metric: peak_rss_bytes, tolerance: 10%}\n":                        `:2: peak_rss_bytes: a tolerance rule needs a baseline`,
	}
	for yaml, want := range tests {
		_, err := Evaluate(Options{Current: r, Rules: rules(t, yaml)})
		var bad *BadRuleError
		if !errors.As(err, &bad) || fault.KindOf(bad) != fault.BadInput || !strings.Contains(err.Error(), "rules.yaml"+want) {
			t.Errorf("rules %q: error %v, want one containing %q", yaml, err, "rules.yaml"+want)
		}
	}
}
func TestOutputs(t *testing.T) {
	t.Parallel()
	p := base()
	p["buffered"][16] = []float64{500}
	rep := evaluate(t, res(p), res(base()), rules(t, ciRules))
	var junit bytes.Buffer
	if err := rep.WriteJUnit(&junit); err != nil {
		t.Fatal(err)
	}
	var suite junitSuite
	if err := xml.Unmarshal(junit.Bytes(), &suite); err != nil {
		t.Fatalf("JUnit is not valid XML: %v\n%s", err, junit.String())
	}
	if suite.Tests != 11 || suite.Failures != 1 || !strings.Contains(junit.String(), "level 16: baseline 440.0 MiB, current 500.0 MiB +13.6% FAIL") {
		t.Errorf("JUnit: %d tests, %d failures\n%s", suite.Tests, suite.Failures, junit.String())
	}
	var table, md, bench bytes.Buffer
	rep.WriteTable(&table)
	rep.WriteMarkdown(&md)
	if err := WriteBenchstat(&bench, res(base())); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "gate: 26 passed, 1 failed") || strings.Contains(table.String(), "checks failed") ||
		!strings.Contains(table.String(), "single measurements") || !strings.Contains(md.String(), "--repeats 3") || !strings.Contains(md.String(), "❌ 1 of 27 checks failed") {
		t.Errorf("table:\n%s\nmarkdown:\n%s", table.String(), md.String())
	}
	line := regexp.MustCompile(`^BenchmarkFlood/target=\w+/c=\d+ 1 \d+ peak-rss-bytes \d+ sampled-peak-rss-bytes [\d.]+ p99-ms [\d.]+ MB/s [\d.]+ ok-ratio$`)
	lines := strings.Split(strings.TrimSpace(bench.String()), "\n")
	for _, l := range lines {
		if !line.MatchString(l) {
			t.Errorf("not a benchmark line: %q", l)
		}
	}
	if len(lines) != 6 {
		t.Errorf("%d benchmark lines, want 6", len(lines))
	}
}
func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o644) }

// A gate that would check nothing is refused, naming each rule that
// matched no run.
func TestRuleMatchingNothingIsRefused(t *testing.T) {
	t.Parallel()
	g := rules(t, "rules:\n  - {metric: oom, oom: never}\n  - {metric: peak_rss_bytes, target: streamed, level: 8, max: 64MiB}\n")
	_, err := Evaluate(Options{Current: res(base()), Rules: g})
	if err == nil || fault.KindOf(err) != fault.BadInput ||
		!strings.Contains(err.Error(), "rules.yaml:3: rule peak_rss_bytes target=streamed level=8 matched no run") ||
		strings.Contains(err.Error(), ":2: rule oom") {
		t.Errorf("Evaluate = %v; want bad input naming line 3 only", err)
	}
}

// Results of an interrupted run fail the gate unless judging them is asked
// for.
func TestPartialResultsFail(t *testing.T) {
	t.Parallel()
	g := rules(t, "rules:\n  - {metric: oom, oom: never}\n")
	cur := res(base())
	cur.Partial = true
	if rep := evaluate(t, cur, nil, g); rep.Failed() != 1 || !strings.Contains(rep.Checks[0].Note, "interrupted") {
		t.Errorf("partial results: %d failed, checks %+v; want the partial check to fail", rep.Failed(), rep.Checks)
	}
	rep, err := Evaluate(Options{Current: cur, Rules: g, AllowPartial: true})
	if err != nil || rep.Failed() != 0 {
		t.Errorf("--allow-partial: %v, %d failed", err, rep.Failed())
	}
}

// A tolerance rule does not compare a cgroup charge with a VmHWM, or a
// kernel cap with the watchdog's; a changed host is said in every output.
func TestMeasuredDifferentlyFails(t *testing.T) {
	t.Parallel()
	g := rules(t, "rules:\n  - {metric: peak_rss_bytes, target: streamed, tolerance: 10%}\n")
	baseline, cur := res(base()), res(base())
	for i := range baseline.Runs {
		baseline.Runs[i].PeakRSSSource = result.PeakVmHWM
		cur.Runs[i].PeakRSSSource = result.PeakVmHWM
	}
	cur.Runs[4].PeakRSSSource = result.PeakCgroup // streamed c=4
	baseline.Host = result.Host{CPUs: 2, MemBytes: 24 << 30, Cgroup: "v1", CgroupMode: "v1"}
	cur.Host = result.Host{CPUs: 16, MemBytes: 128 << 30, Cgroup: "v2", CgroupMode: "v2 beside the harness's cgroup"}
	rep := evaluate(t, cur, baseline, g)
	if rep.Failed() != 1 || rep.Checks[1].Pass || !strings.Contains(rep.Checks[1].Note, "baseline peak source vmhwm, cap none, current peak source cgroup, cap none") {
		t.Errorf("checks %+v; want c=4 failed as measured differently", rep.Checks)
	}
	var table, md, junit bytes.Buffer
	rep.WriteTable(&table)
	rep.WriteMarkdown(&md)
	rep.WriteJUnit(&junit)
	want := "the baseline ran on another host: CPUs 2 → 16, memory 24.0 → 128.0 GiB, cgroup v1 (v1) → v2 (v2 beside the harness's cgroup)"
	for name, out := range map[string]string{"table": table.String(), "markdown": md.String(), "junit": html.UnescapeString(junit.String())} {
		if !strings.Contains(out, want) {
			t.Errorf("%s does not say the host changed:\n%s", name, out)
		}
	}
	rep, err := Evaluate(Options{Current: cur, Baseline: baseline, Rules: g, AllowHostChange: true})
	if err != nil || rep.Failed() != 0 {
		t.Errorf("--allow-host-change: %v, %+v", err, rep.Checks)
	}
}

// A slope tolerance is widened by the noise its repeats show, as level
// tolerances are: three repeats whose slopes scatter ±1 MiB/client do not
// fail a 10% rule on a 10% shift of the median.
func TestSlopeToleranceSeesRepeatNoise(t *testing.T) {
	t.Parallel()
	g := rules(t, "rules:\n  - {metric: peak_rss_slope, target: buffered, tolerance: 10%}\n")
	mk := func(scale float64) *result.Results {
		// Repeats' slopes 9, 10, 11 MiB per client (times scale).
		return res(map[string]map[int][]float64{
			"buffered": {1: {40, 40, 40}, 4: {40 + 27*scale, 40 + 30*scale, 40 + 33*scale}, 16: {40 + 135*scale, 40 + 150*scale, 40 + 165*scale}},
			"streamed": {1: {15}, 4: {15}, 16: {15}},
		})
	}
	rep := evaluate(t, mk(1.15), mk(1), g)
	if rep.Failed() != 0 {
		t.Errorf("a 15%% shift inside ±10%% repeat noise failed: %+v", rep.Checks)
	}
	rep = evaluate(t, mk(1.6), mk(1), g)
	if rep.Failed() != 1 {
		t.Errorf("a 60%% shift passed: %+v", rep.Checks)
	}
}

//go:noinline
func retainMore(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 1
	}
	return b
}

func writeHeapProfile(t *testing.T, path string) {
	t.Helper()
	runtime.GC()
	var b bytes.Buffer
	if err := pprof.Lookup("heap").WriteTo(&b, 0); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Against a baseline with heap profiles, the gate says which function's
// heap grew most, first, in its table, Markdown and JUnit failure.
func TestHeapDiffNamesWhatGrew(t *testing.T) {
	baseDir, curDir := t.TempDir(), t.TempDir()
	writeHeapProfile(t, filepath.Join(baseDir, "profiles", "streamed-c16-r0.pb.gz"))
	more := retainMore(24 << 20)
	writeHeapProfile(t, filepath.Join(curDir, "profiles", "streamed-c16-r0.pb.gz"))
	runtime.KeepAlive(more)
	leaky := base()
	leaky["streamed"] = map[int][]float64{1: {15}, 4: {15.5}, 16: {40}}
	baseline, cur := res(base()), res(leaky)
	for _, r := range []*result.Results{baseline, cur} {
		for i := range r.Runs {
			if r.Runs[i].Target == "streamed" && r.Runs[i].Concurrency == 16 {
				r.Runs[i].HeapProfile = "profiles/streamed-c16-r0.pb.gz"
			}
		}
	}
	g := rules(t, "rules:\n  - {metric: peak_rss_bytes, target: streamed, tolerance: 10%}\n")
	rep, err := Evaluate(Options{Current: cur, Baseline: baseline, Rules: g, CurrentDir: curDir, BaselineDir: baseDir})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.HeapDiffs) != 1 || rep.HeapDiffs[0].Level != 16 || len(rep.HeapDiffs[0].Top) == 0 ||
		!strings.HasSuffix(rep.HeapDiffs[0].Top[0].Func, "gate.retainMore") || rep.HeapDiffs[0].Top[0].DeltaBytes < 16<<20 {
		t.Fatalf("heap diffs %+v; want streamed at c=16 with gate.retainMore first", rep.HeapDiffs)
	}
	var table, md, junit bytes.Buffer
	rep.WriteTable(&table)
	rep.WriteMarkdown(&md)
	rep.WriteJUnit(&junit)
	for name, out := range map[string]string{"table": table.String(), "markdown": md.String(), "junit": junit.String()} {
		if !strings.Contains(out, "heap growth") && !strings.Contains(out, "Heap growth") || !strings.Contains(out, "gate.retainMore") {
			t.Errorf("%s does not name what grew:\n%s", name, out)
		}
	}
	if !strings.Contains(md.String(), "go tool pprof -diff_base="+filepath.Join(baseDir, "profiles/streamed-c16-r0.pb.gz")) {
		t.Errorf("markdown does not say how to go deeper:\n%s", md.String())
	}
	// Without the baseline's profile the gate says why there is no diff.
	os.Remove(filepath.Join(baseDir, "profiles", "streamed-c16-r0.pb.gz"))
	rep, _ = Evaluate(Options{Current: cur, Baseline: baseline, Rules: g, CurrentDir: curDir, BaselineDir: baseDir})
	if len(rep.HeapDiffs) != 1 || !strings.Contains(rep.HeapDiffs[0].Err, "--update-baseline keeps the profiles") {
		t.Errorf("heap diffs %+v; want the missing profile named", rep.HeapDiffs)
	}
}

// BMF: per target × level the median with min and max as bounds, per
// target the slope; JSON that Bencher's schema accepts (value required).
func TestWriteBMF(t *testing.T) {
	t.Parallel()
	r := res(map[string]map[int][]float64{"buffered": {1: {40, 44, 42}, 16: {400, 440, 420}}, "streamed": {1: {15}, 16: {16}}})
	r.Scenario.Name = "quick"
	var b bytes.Buffer
	if err := WriteBMF(&b, r); err != nil {
		t.Fatal(err)
	}
	var got map[string]map[string]map[string]float64
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	peak := got["quick/buffered/c=16"]["peak-rss-bytes"]
	if peak["value"] != 420<<20 || peak["lower_value"] != 400<<20 || peak["upper_value"] != 440<<20 {
		t.Errorf("buffered c=16 peak %v, want median 420 MiB within 400–440", peak)
	}
	if got["quick/streamed/c=1"]["ok-ratio"]["value"] != 1 || got["quick/buffered"]["peak-rss-slope-bytes-per-client"]["value"] <= 0 {
		t.Errorf("BMF:\n%s", b.String())
	}
	for bench, measures := range got {
		for m, v := range measures {
			if _, ok := v["value"]; !ok || len(m) > 64 {
				t.Errorf("%s %s: %v (value required, measure ≤ 64 chars)", bench, m, v)
			}
		}
	}
}

// A PR that lowers the concurrency an endpoint survives says so in words.
func TestMarkdownSaysTheDemandBeyondTheCap(t *testing.T) {
	t.Parallel()
	cur := res(map[string]map[int][]float64{"buffered": {1: {110}, 4: {140}, 16: {260}}, "streamed": {1: {15}, 4: {15}, 16: {15}}})
	cur.Runs = append(cur.Runs, result.Run{Target: "buffered", Concurrency: 64, PeakRSSBytes: 512 << 20, MemoryLimitBytes: 512 << 20, OOMKilled: true})
	for i := range cur.Runs {
		cur.Runs[i].MemoryLimitBytes = 512 << 20
	}
	rep := evaluate(t, cur, nil, rules(t, "rules:\n  - {metric: oom, oom: never}\n"))
	var md bytes.Buffer
	rep.WriteMarkdown(&md)
	if !strings.Contains(md.String(), "**buffered was killed at its 512 MiB limit at c=64**: it would need ~740 MiB there (10.00 MiB per extra client, estimated from the uncapped levels); under the limit it holds ~41 concurrent clients (an estimate from single peaks: `harness capacity` finds and confirms the number).") {
		t.Errorf("markdown:\n%s", md.String())
	}
}

// A level killed at the cap holds the cap's value as its peak: the gate
// judges it by the kill and by what the target would have needed, never
// the cap against itself.
func TestKilledLevelIsNotTheCapAgainstItself(t *testing.T) {
	t.Parallel()
	kill := func(r *result.Results, level int) *result.Results {
		for i := range r.Runs {
			r.Runs[i].MemoryLimitBytes = 512 << 20
			if r.Runs[i].Target == "buffered" && r.Runs[i].Concurrency == level {
				r.Runs[i].OOMKilled, r.Runs[i].PeakRSSBytes = true, 512<<20
			}
		}
		return r
	}
	g := rules(t, "rules:\n  - {metric: peak_rss_bytes, target: buffered, level: 16, tolerance: 10%}\n")
	check := func(cur, baseline *result.Results) Check {
		t.Helper()
		rep := evaluate(t, cur, baseline, g)
		if len(rep.Checks) != 1 {
			t.Fatalf("%d checks, want 1", len(rep.Checks))
		}
		return rep.Checks[0]
	}
	// Killed in both, the same demand: passes, compared by the estimate.
	c := check(kill(res(base()), 16), kill(res(base()), 16))
	if !c.Pass || !strings.Contains(c.Note, "demand estimate") || c.Current == 512<<20 {
		t.Errorf("killed in both, same demand: %+v", c)
	}
	// Killed in both, but the uncapped levels now grow twice as fast: fails.
	steeper := base()
	steeper["buffered"] = map[int][]float64{1: {40}, 4: {200}, 16: {440}}
	if c := check(kill(res(steeper), 16), kill(res(base()), 16)); c.Pass {
		t.Errorf("killed in both, demand up %.0f → %.0f MiB: passed (%s)", c.Baseline/(1<<20), c.Current/(1<<20), c.Note)
	}
	// Killed now, served in the baseline: fails, whatever the peak reads.
	if c := check(kill(res(base()), 16), res(base())); c.Pass || !strings.Contains(c.Note, "now killed") {
		t.Errorf("now killed: %+v", c)
	}
	// Killed only in the baseline: passes and says so.
	if c := check(res(base()), kill(res(base()), 16)); !c.Pass || !strings.Contains(c.Note, "now it lives") {
		t.Errorf("killed only before: %+v", c)
	}
}

// A peak at a kernel cap without a kill carries the cap's own figure.
func TestPeakAtTheCapSaysWhatTheCapCounted(t *testing.T) {
	t.Parallel()
	cur := res(base())
	for i := range cur.Runs {
		cur.Runs[i].MemoryLimitBytes, cur.Runs[i].MemoryLimitBy, cur.Runs[i].PeakRSSSource = 512<<20, result.LimitCgroup, result.PeakVmHWM
		if cur.Runs[i].Target == "buffered" && cur.Runs[i].Concurrency == 16 {
			cur.Runs[i].PeakRSSBytes, cur.Runs[i].CgroupPeakBytes = 518<<20, 510<<20
		}
	}
	rep := evaluate(t, cur, nil, rules(t, "rules:\n  - {metric: peak_rss_bytes, target: buffered, level: 16, max: 1GiB}\n"))
	if len(rep.Checks) != 1 || !strings.Contains(rep.Checks[0].Note, "cgroup charge 510.0 MiB of the 512 MiB cap; at the cap") {
		t.Errorf("checks %+v", rep.Checks)
	}
}
