package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/result"
)

// A flood where no request got an ok response measured nothing: the run
// fails (exit 3), the console says why, and no peak reads as a figure.
func TestAllFailedFloodExits3(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	code, stdout, stderr := harnessRun(t, "run", "--cmd", "harness serve --impl streamed --port {port}",
		"--path", "/nosuch", "--levels", "2", "--duration", "1s", "--limit", "0", "--out", out)
	if code != 3 {
		t.Errorf("every request 404: exit %d, want 3\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "FAILED, no ok response: status_404 ×") || !strings.Contains(stdout, "no ok response: status_404 ×") {
		t.Errorf("the console does not say no response was ok:\n%s\n%s", stdout, stderr)
	}
	run := only(t, readResults(t, out), "app", 2)
	if !strings.HasPrefix(run.Error, result.NoOKPrefix) || run.Errors["status_404"] == 0 {
		t.Errorf("run error %q, errors %v", run.Error, run.Errors)
	}
	summary, _ := os.ReadFile(filepath.Join(out, "summary.md"))
	if !strings.Contains(string(summary), "❌ app: could not measure (no ok response: status_404") {
		t.Errorf("summary.md does not lead with the failure:\n%s", summary)
	}
}

// A single --cmd name= names the run; --health's problem is the flag's.
func TestQuickRunNamesAndHints(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	code, _, stderr := harnessRun(t, "run", "--cmd", "ref=harness serve --impl streamed --port {port}",
		"--health", "/nope", "--levels", "1", "--duration", "1s", "--out", out)
	if code != 3 || !strings.Contains(stderr, "run ref: 1 target × 1 level × 1 repeat") || !strings.Contains(stderr, "set --health to a path") {
		t.Errorf("exit %d, want 3 naming the run ref and the --health flag:\n%s", code, stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "scenario.yaml")); !strings.Contains(string(b), "baseline: reports/baseline/ref/results.json") {
		t.Errorf("the quick scenario's baseline is not its own:\n%s", b)
	}
}

// A gate rule on a target --targets leaves out is no error: the run says
// the rule has nothing to check, and names the filter.
func TestTargetsFilterKeepsGateRulesOfOthers(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "two.yaml")
	yaml := `name: two
levels: [1]
duration: 1s
request: {path: "/export?rows=100"}
targets:
  - {name: a, command: [harness, serve, --impl, streamed, --port, "{port}"]}
  - {name: b, command: [harness, serve, --impl, streamed, --port, "{port}"], path: "/export?rows=50"}
gate:
  rules:
    - {metric: ok_ratio, target: b, min: 1}
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := harnessRun(t, "run", file, "--targets", "a", "--out", filepath.Join(dir, "run"))
	if code != 0 || !strings.Contains(stderr, `the gate rule on target "b" has nothing to check in this run: --targets a leaves that target out`) {
		t.Errorf("--targets a with a rule on b: exit %d\n%s", code, stderr)
	}
	code, _, stderr = harnessRun(t, "run", file, "--path", "/export?rows=10", "--out", filepath.Join(dir, "run2"))
	if code != 0 || !strings.Contains(stderr, "--path /export?rows=10: every target requests it, in place of the paths the file gave b /export?rows=50 ("+file+":7)") {
		t.Errorf("--path over a target's own path: exit %d\n%s", code, stderr)
	}
	r := readResults(t, filepath.Join(dir, "run2"))
	if a, b := only(t, r, "a", 1), only(t, r, "b", 1); a.OK == 0 || a.BytesReceived/a.OK != b.BytesReceived/b.OK {
		t.Errorf("after --path both targets should send the same body: a %d/%d, b %d/%d", a.BytesReceived, a.OK, b.BytesReceived, b.OK)
	}
}

// The README's five-minute sequence, from the root of a project with a
// committed baseline: quick run, baseline, second run, gate. It changes
// no tracked file and leaves nothing untracked; a baseline of another
// scenario is refused (exit 2) and kept, with its profiles.
func TestFiveMinuteSequenceLeavesTheTreeClean(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "the project is a git checkout: install git", "git")
	repo := t.TempDir()
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, b)
		}
		return string(b)
	}
	gitignore, err := os.ReadFile("../../.gitignore")
	if err != nil {
		t.Fatal(err)
	}
	committed := `{"schema": "flood-harness/results/v2", "scenario": {"name": "quick", "file": "scenarios/quick.yaml"}, "runs": [{"target": "streamed", "concurrency": 1, "heap_profile": "profiles/streamed-c1-r0.pb.gz"}]}`
	for name, body := range map[string]string{".gitignore": string(gitignore), "reports/baseline/results.json": committed, "reports/baseline/profiles/streamed-c1-r0.pb.gz": "profile"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(repo, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(repo, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	git("init", "-q")
	git("add", "-A")
	git("commit", "-qm", "baseline")

	quick := func() string {
		t.Helper()
		code, stdout, stderr := harnessRunIn(t, repo, "run", "--cmd", "harness serve --impl streamed --port {port}", "--levels", "1", "--duration", "1s")
		if code != 0 {
			t.Fatalf("quick run: exit %d\n%s\n%s", code, stdout, stderr)
		}
		for _, l := range strings.Split(stdout, "\n") {
			if p, ok := strings.CutPrefix(l, "results: "); ok {
				return p
			}
		}
		t.Fatalf("no results path in\n%s", stdout)
		return ""
	}
	first := quick()
	rules := filepath.Join(filepath.Dir(first), "scenario.yaml")
	if code, stdout, stderr := harnessRunIn(t, repo, "gate", "--current", first, "--rules", rules, "--update-baseline"); code != 0 || !strings.Contains(stdout, "reports/baseline/my-server/results.json") {
		t.Fatalf("update-baseline: exit %d\n%s\n%s", code, stdout, stderr)
	}
	second := quick()
	if code, stdout, stderr := harnessRunIn(t, repo, "gate", "--current", second); code != 0 || strings.Count(stdout, "passed") != 1 {
		t.Errorf("gate of the second run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	// Aimed at the project's own baseline: refused, and it is kept.
	code, _, stderr := harnessRunIn(t, repo, "gate", "--current", second, "--rules", rules, "--baseline", "reports/baseline/results.json", "--update-baseline")
	if code != 2 || !strings.Contains(stderr, "is the baseline of another scenario") || !strings.Contains(stderr, "--force") {
		t.Errorf("update over another scenario's baseline: exit %d\n%s", code, stderr)
	}
	if st := git("status", "--porcelain"); st != "" {
		t.Errorf("the sequence changed the tree:\n%s", st)
	}
	// With --force it is replaced, and only the profiles it named go.
	if code, stdout, stderr := harnessRunIn(t, repo, "gate", "--current", second, "--rules", rules, "--baseline", "reports/baseline/results.json", "--update-baseline", "--force"); code != 0 || !strings.Contains(stdout, `replaced the baseline of "quick"`) {
		t.Errorf("--force: exit %d\n%s\n%s", code, stdout, stderr)
	}
}

// harness init writes the request flags into the scenario it writes,
// ${NAME} kept as written.
func TestInitWritesTheRequest(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "api.yaml")
	code, _, stderr := harnessRun(t, "init", "--out", file, "--cmd", "python3 app.py {port}", "-X", "POST",
		"-H", "Authorization: Bearer ${API_TOKEN}", "--body", `{"rows": 5}`, "--content-type", "application/json")
	b, _ := os.ReadFile(file)
	for _, want := range []string{"method: POST", `Authorization: "Bearer ${API_TOKEN}"`, `body: "{\"rows\": 5}"`, "content_type: application/json"} {
		if code != 0 || !strings.Contains(string(b), want) {
			t.Errorf("init: exit %d (%s); the scenario lacks %q:\n%s", code, stderr, want, b)
		}
	}
}

// A level the host cannot hold is refused before anything starts, with
// the number it needs (here: under a 1000-file limit the test sets).
func TestLevelTooLargeIsRefused(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	cmd := exec.Command("bash", "-c", `ulimit -n 1000 && exec "$0" "$@"`, harnessBin, "run", "--cmd", "harness serve --impl streamed --port {port}",
		"--levels", "1,2000", "--duration", "1s", "--out", out)
	cmd.Dir = "../.."
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(b), "level 2000 needs 2064 open files") || !strings.Contains(string(b), "may open 1000 (RLIMIT_NOFILE)") {
		t.Errorf("level 2000 under 1000 files: %v\n%s", err, b)
	}
	if _, err := os.Stat(filepath.Join(out, "results.json")); err == nil {
		t.Error("a refused run wrote results.json")
	}
}
