//go:build e2e

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// workflow is the part of a GitHub Actions workflow the example uses.
type workflow struct {
	Env  map[string]string `yaml:"env"`
	Jobs map[string]*struct {
		If    string `yaml:"if"`
		Steps []struct {
			ID   string            `yaml:"id"`
			Name string            `yaml:"name"`
			Uses string            `yaml:"uses"`
			If   string            `yaml:"if"`
			Run  string            `yaml:"run"`
			With map[string]string `yaml:"with"`
		} `yaml:"steps"`
	} `yaml:"jobs"`
}

var stepOutput = regexp.MustCompile(`\$\{\{\s*steps\.(\w+)\.outputs\.(\w+)\s*\}\}`)

// runWorkflow runs the workflow's steps in repo the way a runner would:
// run: blocks with bash -e, the GitHub files (GITHUB_OUTPUT, GITHUB_PATH,
// GITHUB_STEP_SUMMARY) as temporary files, steps skipped after a failure
// unless `if: always()`. Of the actions, checkout of the harness is this
// module (linked), upload-artifact checks its path exists, the rest are
// no-ops. It runs the one job named (its own if: is the caller's to
// judge) and returns the job's exit code and its step summary.
func runWorkflow(t *testing.T, file, repo, name string) (int, string) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	tmp := t.TempDir()
	summary, pathFile := filepath.Join(tmp, "summary"), filepath.Join(tmp, "path")
	for _, f := range []string{summary, pathFile} {
		os.WriteFile(f, nil, 0o644)
	}
	outputs := map[string]map[string]string{}
	failed := 0
	job := wf.Jobs[name]
	if job == nil {
		t.Fatalf("%s has no job %q", file, name)
	}
	{
		for i, st := range job.Steps {
			if failed != 0 && !strings.Contains(st.If, "always()") {
				continue
			}
			switch {
			case strings.HasPrefix(st.Uses, "actions/cache"):
				if st.With["path"] != "reports/history" {
					t.Errorf("step %d caches %q, not the gate's history", i, st.With["path"])
				}
				continue // the history stays in the repository between the test's jobs
			case strings.HasPrefix(st.Uses, "actions/upload-artifact"):
				if _, err := os.Stat(filepath.Join(repo, st.With["path"])); err != nil {
					t.Errorf("step %d uploads %s: %v", i, st.With["path"], err)
				}
				continue
			case st.Uses != "":
				continue // checkout and setup-go: the test set them up
			}
			outFile := filepath.Join(tmp, fmt.Sprintf("output-%d", i))
			os.WriteFile(outFile, nil, 0o644)
			script := stepOutput.ReplaceAllStringFunc(st.Run, func(m string) string {
				g := stepOutput.FindStringSubmatch(m)
				return outputs[g[1]][g[2]]
			})
			cmd := exec.Command("bash", "-e", "-c", script)
			cmd.Dir = repo
			path, _ := os.ReadFile(pathFile)
			cmd.Env = append(os.Environ(), "CI=true", "GITHUB_OUTPUT="+outFile, "GITHUB_STEP_SUMMARY="+summary, "GITHUB_PATH="+pathFile,
				"PATH="+strings.ReplaceAll(strings.TrimSpace(string(path)), "\n", ":")+":"+os.Getenv("PATH"))
			for k, v := range wf.Env {
				cmd.Env = append(cmd.Env, k+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if ee, ok := err.(*exec.ExitError); ok {
				failed = ee.ExitCode()
				t.Logf("step %q exited %d:\n%s", st.Name, failed, tail(out, 1500))
			} else if err != nil {
				t.Fatal(err)
			}
			if st.ID != "" {
				outputs[st.ID] = map[string]string{}
				o, _ := os.ReadFile(outFile)
				for _, l := range strings.Split(string(o), "\n") {
					if k, v, ok := strings.Cut(l, "="); ok {
						outputs[st.ID][k] = v
					}
				}
			}
		}
	}
	s, _ := os.ReadFile(summary)
	return failed, string(s)
}

// The example workflow a user copies: in a repository of theirs (here
// quick.yaml as their scenario, this project's baseline), an unchanged run
// passes with the gate in the job summary, and a planted regression fails
// the job with the function that retains the memory named first in the
// heap diff.
func TestMemoryGateWorkflow(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	scenario, err := os.ReadFile(filepath.Join(root, "scenarios/quick.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name      string
		scenario  string
		code      int
		inSummary []string
	}{
		{"unchanged", string(scenario), 0, []string{"## flood gate: ✅ passed", "### Heap growth: streamed at c=16"}},
		{"regressed", strings.ReplaceAll(string(scenario), "--impl, streamed, --port", "--impl, streamed, --retain-bytes, 4MiB, --port"), 1,
			[]string{"## flood gate: ❌", "### Heap growth: streamed at c=16\n\n| growth | now | function |\n|--:|--:|---|\n| +"}},
	} {
		repo := t.TempDir()
		for _, d := range []string{"scenarios", "reports"} {
			if err := os.MkdirAll(filepath.Join(repo, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		os.WriteFile(filepath.Join(repo, "scenarios/memory.yaml"), []byte(tt.scenario), 0o644)
		if out, err := exec.Command("cp", "-r", filepath.Join(root, "reports/baseline"), filepath.Join(repo, "reports/baseline")).CombinedOutput(); err != nil {
			t.Fatalf("copy the baseline: %v\n%s", err, out)
		}
		os.Symlink(root, filepath.Join(repo, ".flood-harness"))
		code, summary := runWorkflow(t, filepath.Join(root, "examples/github/memory-gate.yml"), repo, "memory-gate")
		if code != tt.code {
			t.Errorf("%s: the job exited %d, want %d", tt.name, code, tt.code)
		}
		for _, want := range tt.inSummary {
			if !strings.Contains(summary, want) {
				t.Errorf("%s: the job summary does not say %q:\n%s", tt.name, want, tail([]byte(summary), 3000))
			}
		}
		if tt.code == 1 && !regexp.MustCompile(`### Heap growth: streamed at c=16\n\n\| growth \| now \| function \|\n\|--:\|--:\|---\|\n\| \+[0-9.]+ MiB \| [0-9.]+ MiB \| `+"`"+`github.com/floodharness/harness/targets\.\(\*Server\)\.export`+"`").MatchString(summary) {
			t.Errorf("%s: the retaining function is not first in the heap diff:\n%s", tt.name, tail([]byte(summary), 3000))
		}
	}
}

// The recipe in a repository whose service is a small Python app on
// /health: its scenario from harness init --cmd (levels and duration
// shortened, as its owner would edit them), its baseline from a first run
// as the workflow's header says, then the workflow: it passes.
func TestMemoryGateWorkflowOnAPythonService(t *testing.T) {
	// Not parallel with TestMemoryGateWorkflow: both build the harness in
	// this module's bin/ (make -C .flood-harness build).
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	repo := t.TempDir()
	app, _ := os.ReadFile("testdata/app.py")
	os.WriteFile(filepath.Join(repo, "app.py"), app, 0o644)
	os.MkdirAll(filepath.Join(repo, "scenarios"), 0o755)
	os.Symlink(root, filepath.Join(repo, ".flood-harness"))
	sh := func(script string) {
		t.Helper()
		cmd := exec.Command("bash", "-e", "-c", script)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(harnessBin)+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", script, err, tail(out, 2000))
		}
	}
	sh(`harness init --cmd 'python3 app.py {port} /health' --name pyapp --out scenarios/memory.yaml
sed -i 's/^levels: .*/levels: [1, 4]/; s/^duration: .*/duration: 2s/' scenarios/memory.yaml
harness run --out reports/baseline-run scenarios/memory.yaml
harness gate --current reports/baseline-run/results.json --rules scenarios/memory.yaml --update-baseline`)
	code, summary := runWorkflow(t, filepath.Join(root, "examples/github/memory-gate.yml"), repo, "memory-gate")
	if code != 0 || !strings.Contains(summary, "## flood gate: ✅ passed") || !strings.Contains(summary, "pyapp") {
		t.Errorf("the job exited %d; summary:\n%s", code, tail([]byte(summary), 3000))
	}
	// The next run finds the history the first kept (the cache restores
	// reports/history; here it stays in the repository).
	code, summary = runWorkflow(t, filepath.Join(root, "examples/github/memory-gate.yml"), repo, "memory-gate")
	if code != 0 || !strings.Contains(summary, "pyapp: 2 runs in the history") {
		t.Errorf("the second job exited %d; summary:\n%s", code, tail([]byte(summary), 3000))
	}
}

// The workflow's optional capacity job, in a repository whose service
// serves at most K requests at once (testdata/limited.py): with the
// capacity baseline made as the header says, an unchanged service passes;
// one that now serves fewer fails the job with the sentence that says so.
func TestCapacityWorkflow(t *testing.T) {
	// Not parallel: it builds the harness in this module's bin/, as the
	// memory-gate workflow tests do.
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(root, "examples/github/memory-gate.yml")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var wf workflow
	if err := yaml.Unmarshal(b, &wf); err != nil {
		t.Fatal(err)
	}
	if job := wf.Jobs["capacity"]; job == nil || !strings.Contains(job.If, "vars.FLOOD_CAPACITY") {
		t.Fatalf("the capacity job is missing or not optional: %+v", job)
	}
	// The search's bounds a user would shrink for a small service.
	small := filepath.Join(t.TempDir(), "memory-gate.yml")
	os.WriteFile(small, []byte(strings.Replace(string(b), "CAPACITY_ARGS: --max 64 --repeats 3 --budget 20m", "CAPACITY_ARGS: --max 4 --repeats 1", 1)), 0o644)
	limited, _ := os.ReadFile("testdata/limited.py")
	scenario := func(k int) string {
		return fmt.Sprintf(`name: limited
levels: [1]
duration: 1s
grace: 2s
memory: {limit: 256MiB}
targets:
  - name: limited
    command: [python3, limited.py, "{port}", "%d"]
gate:
  rules:
    - {metric: capacity, tolerance: 10%%}
  baseline: reports/baseline/limited/results.json
`, k)
	}
	repo := t.TempDir()
	os.WriteFile(filepath.Join(repo, "limited.py"), limited, 0o644)
	os.MkdirAll(filepath.Join(repo, "scenarios"), 0o755)
	os.Symlink(root, filepath.Join(repo, ".flood-harness"))
	os.WriteFile(filepath.Join(repo, "scenarios/memory.yaml"), []byte(scenario(3)), 0o644)
	cmd := exec.Command("bash", "-e", "-c", `harness capacity --max 4 --repeats 1 --out reports/capacity-run scenarios/memory.yaml
harness gate --current reports/capacity-run/capacity.json --rules scenarios/memory.yaml --update-baseline`)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(harnessBin)+":"+os.Getenv("PATH"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the capacity baseline: %v\n%s", err, tail(out, 2000))
	}
	if code, summary := runWorkflow(t, small, repo, "capacity"); code != 0 || !strings.Contains(summary, "## flood gate: ✅ passed") {
		t.Errorf("unchanged: the job exited %d; summary:\n%s", code, tail([]byte(summary), 3000))
	}
	os.WriteFile(filepath.Join(repo, "scenarios/memory.yaml"), []byte(scenario(1)), 0o644)
	code, summary := runWorkflow(t, small, repo, "capacity")
	if code != 1 || !strings.Contains(summary, "fell from 3 to 1") {
		t.Errorf("regressed: the job exited %d, want 1, with the capacity sentence; summary:\n%s", code, tail([]byte(summary), 3000))
	}
}
