package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/floodharness/harness/internal/cli"
	"github.com/floodharness/harness/internal/harnesstest"
	"path/filepath"
)

// harnessBin is the binary built once for the end-to-end tests.
var harnessBin string

func TestMain(m *testing.M) { os.Exit(harnesstest.Main(m, &harnessBin)) }

// runInProcess runs the CLI with captured streams.
func runInProcess(args ...string) (code int, stdout, stderr string) {
	var out, errb strings.Builder
	e := &cli.Env{Ctx: context.Background(), Stdout: &out, Stderr: &errb, LookupEnv: func(string) (string, bool) { return "", false }}
	code = run(e, args)
	return code, out.String(), errb.String()
}

func TestUsage(t *testing.T) {
	t.Parallel()
	code, _, stderr := runInProcess()
	if code != cli.ExitUsage {
		t.Errorf("harness with no command: exit %d, want %d", code, cli.ExitUsage)
	}
	var listed []string
	for _, l := range strings.Split(stderr, "\n") {
		if f := strings.Fields(l); strings.HasPrefix(l, "  ") && len(f) > 1 {
			listed = append(listed, f[0])
		}
	}
	// Only commands that exist are listed; later issues add run, report, gate, load.
	if want := []string{"capacity", "compare", "doctor", "fixtures", "gate", "history", "init", "load", "report", "run", "serve"}; strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Errorf("listed commands %q, want %q", listed, want)
	}
	if code, _, stderr := runInProcess("frobnicate"); code != cli.ExitUsage || !strings.Contains(stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: exit %d, stderr %q", code, stderr)
	}
}

func TestParseArgsFlagsAnywhere(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args     []string
		operands string
		out      string
	}{
		{[]string{"r.json"}, "r.json", ""},
		{[]string{"--out", "d", "r.json"}, "r.json", "d"},
		{[]string{"r.json", "--out", "d"}, "r.json", "d"},
		{[]string{"a", "--out=d", "b"}, "a b", "d"},
		{[]string{"a", "--", "--out", "d"}, "a --out d", ""},
		{[]string{"-", "--out", "d"}, "-", "d"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		out := fs.String("out", "", "")
		got, err := cli.ParseArgs(fs, tt.args)
		if err != nil || strings.Join(got, " ") != tt.operands || *out != tt.out {
			t.Errorf("cli.ParseArgs(%q) = %q, out %q, %v; want %q, out %q", tt.args, got, *out, err, tt.operands, tt.out)
		}
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if _, err := cli.ParseArgs(fs, []string{"r.json", "--nope"}); err == nil {
		t.Error("an unknown flag after an operand was accepted")
	}
}

func TestServeBadInput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"serve", "--impl", "lazy"}, `impl "lazy"`},
		{[]string{"serve", "--format", "xml"}, `unknown format "xml"`},
		{[]string{"serve", "--admission", "held", "--budget", "0"}, "budget"},
		{[]string{"serve", "--budget", "lots"}, "invalid value"},
		{[]string{"serve", "--source", "postgres"}, "--source"},
		{[]string{"serve", "--source", "sqlite"}, "needs --db"},
		{[]string{"serve", "--source", "sqlite", "--db", "/nonexistent.db"}, "harness fixtures sqlite"},
		{[]string{"serve", "--port", "70000"}, "--port"},
		{[]string{"serve", "extra"}, "unexpected arguments"},
	}
	for _, tt := range tests {
		code, _, stderr := runInProcess(tt.args...)
		if code != cli.ExitUsage || !strings.Contains(stderr, tt.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, cli.ExitUsage, tt.want)
		}
	}
}

// flood runs c concurrent GETs of url, each read to the end and discarded,
// and returns the bytes received.
func flood(url string, c int) (int64, error) {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int64
		errs  []error
	)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c, DisableCompression: true}}
	defer client.CloseIdleConnections()
	for range c {
		wg.Go(func() {
			resp, err := client.Get(url)
			var n int64
			if err == nil {
				n, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			total += n
			if err != nil {
				errs = append(errs, err)
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		return total, fmt.Errorf("%d of %d requests failed, first: %w", len(errs), c, errs[0])
	}
	return total, nil
}

// harness doctor on this machine: exit 0 exactly when it says a kernel cap
// and a kernel peak work here.
func TestDoctor(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := harnessRun(t, "doctor")
	capHere := strings.Contains(stdout, "a kernel memory cap and a kernel peak work here")
	if (code == 0) != capHere || (code != 0 && code != 1) || !strings.Contains(stdout, "memory cap") {
		t.Errorf("exit %d with:\n%s\n%s", code, stdout, stderr)
	}
}

// Where users stumble, the harness says what to do next.
func TestHints(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runInProcess("--help")
	if code != 0 || !strings.Contains(stdout, "commands:") || stderr != "" {
		t.Errorf("--help: exit %d, the command list on stdout %v, stderr %q", code, strings.Contains(stdout, "commands:"), stderr)
	}
	for cmd, operands := range map[string]string{"run": "SCENARIO.yaml", "report": "RESULTS.json", "load": "URL", "gate": ""} {
		code, stdout, _ := runInProcess(cmd, "-h")
		if code != 0 || !strings.HasPrefix(stdout, "usage: harness "+cmd+" [flags] "+operands) {
			t.Errorf("%s -h: exit %d, stdout starts %.60q; want the usage line naming %q", cmd, code, stdout, operands)
		}
	}
	dir := t.TempDir()
	cur := gateFixture(t, dir, 100, 100)
	rules := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rules, []byte("baseline: "+filepath.Join(dir, "none", "results.json")+"\n"+gateRules), 0o644)
	code, _, stderr = runInProcess("gate", "--current", cur, "--rules", rules)
	if code != 2 || !strings.Contains(stderr, "harness gate --current "+cur+" --rules "+rules+" --update-baseline") {
		t.Errorf("gate without a baseline: exit %d, stderr %q; want the --update-baseline command", code, stderr)
	}
}
