package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/result"
)

// capTolerance is how far over memory.limit a kernel-capped target's
// cgroup peak may read: the kernel reclaims and kills at the cap, but a
// charge in flight can land a page or two past it.
const capTolerance = 0.02

// TestCgroupV2VM boots a real cgroup v2 kernel in qemu
// (scripts/cgroup2-vm.sh) and checks the cap there, as users on cgroup v2
// hosts meet it: root in the root cgroup, root sharing its cgroup, root
// alone in a service's cgroup, a non-root user in a delegated cgroup, a
// user with no writable cgroup (the watchdog fallback), one with no
// writable cgroup but a user systemd (a scope per target), and a harness
// killed mid-flood. `make test-cgroup2` runs it
// (FLOOD_CGROUP2_VM=1); elsewhere it is skipped.
func TestCgroupV2VM(t *testing.T) {
	if os.Getenv("FLOOD_CGROUP2_VM") != "1" {
		t.Skip("boots a VM: make test-cgroup2")
	}
	cmd := exec.Command("bash", "scripts/cgroup2-vm.sh", t.TempDir())
	cmd.Dir = "../.."
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	os.WriteFile(filepath.Join(os.TempDir(), "cgroup2-vm.console"), out, 0o644)
	if err != nil {
		t.Fatalf("the VM run failed: %v\n%s", err, tail(out, 4000))
	}
	console := strings.ReplaceAll(string(out), "\r", "")
	cases := parseVM(t, console)
	want := map[string]struct {
		by   result.LimitBy
		mode string
	}{
		"root":     {result.LimitCgroup, "v2 in the root cgroup"},
		"beside":   {result.LimitCgroup, "v2 beside the harness's cgroup"},
		"leaf":     {result.LimitCgroup, "v2 in a leaf of the harness's cgroup"},
		"user":     {result.LimitCgroup, "v2 in a leaf of the harness's cgroup"},
		"fallback": {result.LimitWatchdog, ""},
		"scope":    {result.LimitSystemdScope, "a systemd scope per target"},
	}
	for name, w := range want {
		c, ok := cases[name]
		if !ok {
			t.Errorf("%s: no results on the console", name)
			continue
		}
		r := c.res
		if r.Host.Cgroup != map[bool]string{true: "v2", false: "none"}[w.mode != ""] || r.Host.CgroupMode != w.mode {
			t.Errorf("%s: host cgroup %q mode %q, want mode %q", name, r.Host.Cgroup, r.Host.CgroupMode, w.mode)
		}
		buffered, streamed := r.Select("buffered", 32), r.Select("streamed", 32)
		if len(buffered) != 1 || len(streamed) != 1 {
			t.Fatalf("%s: runs %+v", name, r.Runs)
		}
		b, s := buffered[0], streamed[0]
		for _, run := range []result.Run{b, s} {
			if run.MemoryLimitBy != w.by {
				t.Errorf("%s %s: memory_limit_by %q, want %q (note %q)", name, run.Target, run.MemoryLimitBy, w.by, run.MemoryLimitNote)
			}
		}
		limit := float64(b.MemoryLimitBytes)
		switch w.by {
		case result.LimitCgroup, result.LimitSystemdScope:
			if !b.OOMKilled || b.Exit.Signal != "SIGKILL" || float64(b.CgroupPeakBytes) > limit*(1+capTolerance) || b.CgroupPeakBytes < b.MemoryLimitBytes/2 {
				t.Errorf("%s buffered: oom %v exit %+v cgroup peak %d; want a kernel OOM kill with the cgroup's peak ≤ the %d cap +%.0f%%",
					name, b.OOMKilled, b.Exit, b.CgroupPeakBytes, b.MemoryLimitBytes, capTolerance*100)
			}
		case result.LimitWatchdog:
			if !b.OOMKilled || !strings.Contains(b.MemoryLimitNote, "permission denied") || b.CgroupPeakBytes != 0 {
				t.Errorf("%s buffered: oom %v note %q; want the watchdog's kill and why no cgroup", name, b.OOMKilled, b.MemoryLimitNote)
			}
		}
		if s.OOMKilled || s.Failed != 0 || s.OK == 0 || s.Error != "" {
			t.Errorf("%s streamed: ok %d failed %d oom %v error %q; want everything served", name, s.OK, s.Failed, s.OOMKilled, s.Error)
		}
		if c.leftCgroups != "" || c.leftProcs != "0" {
			t.Errorf("%s left behind cgroups %q and %s server processes", name, c.leftCgroups, c.leftProcs)
		}
		t.Logf("%s (%s): buffered peak %.1f MiB (%s), cgroup peak %.1f MiB, oom %v; streamed %.1f MiB, %d ok",
			name, w.by, mibf(b.PeakRSSBytes), b.PeakRSSSource, mibf(b.CgroupPeakBytes), b.OOMKilled, mibf(s.PeakRSSBytes), s.OK)
	}
	if !strings.Contains(console, "a kernel memory cap and a kernel peak work here\n===DOCTOR exit=0") {
		t.Errorf("harness doctor in the VM (as root) did not find the cap:\n%s", tail(out, 2000))
	}
	if !regexp.MustCompile(`a systemd scope per target[^\n]*\n(.*\n)*?a kernel memory cap and a kernel peak work here\n===DOCTOR-SCOPED exit=0`).MatchString(console) {
		t.Errorf("harness doctor as a user with a user systemd did not find the scope cap:\n%s", tail(out, 2500))
	}
	// A harness killed mid-flood left its cgroups; the next start removed them.
	before := regexp.MustCompile(`===STALE before: (.*)`).FindStringSubmatch(console)
	after := regexp.MustCompile(`===STALE after: (.*)`).FindStringSubmatch(console)
	procs := regexp.MustCompile(`===STALE procs: (\d+)`).FindStringSubmatch(console)
	switch {
	case before == nil || after == nil || procs == nil:
		t.Errorf("the killed case printed nothing")
	case !strings.Contains(before[1], "flood-harness") || strings.TrimSpace(after[1]) != "" || procs[1] != "0" ||
		!regexp.MustCompile(`stale cgroup +removed`).MatchString(console):
		t.Errorf("after a harness was SIGKILLed: cgroups %q before and %q after the next start, %s server processes left", before[1], after[1], procs[1])
	default:
		t.Logf("killed: the next start removed %s", before[1])
	}
}

type vmCase struct {
	res                    *result.Results
	leftCgroups, leftProcs string
}

var caseLine = regexp.MustCompile(`^===CASE (\w+) exit=(\d+)`)

// parseVM reads the cases the VM printed: results.json between ===CASE
// and ===LEFT, then what was left behind.
func parseVM(t *testing.T, console string) map[string]vmCase {
	t.Helper()
	out := map[string]vmCase{}
	sc := bufio.NewScanner(strings.NewReader(console))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var name string
	var body strings.Builder
	var c vmCase
	for sc.Scan() {
		line := sc.Text()
		switch {
		case caseLine.MatchString(line):
			name, c = caseLine.FindStringSubmatch(line)[1], vmCase{}
			body.Reset()
		case name == "":
		case strings.HasPrefix(line, "===LEFT cgroups:"):
			c.leftCgroups = strings.TrimSpace(strings.TrimPrefix(line, "===LEFT cgroups:"))
		case strings.HasPrefix(line, "===LEFT procs:"):
			c.leftProcs = strings.TrimSpace(strings.TrimPrefix(line, "===LEFT procs:"))
		case strings.HasPrefix(line, "===END"):
			res, err := result.Parse(name, []byte(body.String()))
			if err != nil {
				t.Errorf("%s: %v\n%s", name, err, body.String())
			} else {
				c.res = res
				out[name] = c
			}
			name = ""
		case c.leftCgroups == "" && c.leftProcs == "":
			body.WriteString(line + "\n")
		}
	}
	return out
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func mibf(b int64) float64 { return float64(b) / (1 << 20) }
