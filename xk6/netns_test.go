package flood

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/floodharness/harness/internal/hist"
	"github.com/floodharness/harness/internal/result"
)

// lab is three network namespaces on one bridge, standing for three
// hosts: the target's and two k6 instances'. Traffic stays on this
// machine; everything is removed when the test ends.
type lab struct {
	ns     map[string]string // role → namespace
	ip     map[string]string // role → address ("harness" is the bridge's)
	bridge string
}

func sh(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root (CI runs as root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Fatal("ip (iproute2) is missing: scripts/install-deps.sh installs it")
	}
	id := os.Getpid() % 100000
	net3 := fmt.Sprintf("10.213.%d", id%250+1)
	l := &lab{ns: map[string]string{}, ip: map[string]string{"harness": net3 + ".1"}, bridge: fmt.Sprintf("fhbr%d", id)}
	t.Cleanup(func() {
		for _, ns := range l.ns {
			// Anything still inside is a leak the test reports, then stops.
			if pids, _ := exec.Command("ip", "netns", "pids", ns).Output(); len(strings.TrimSpace(string(pids))) > 0 {
				t.Errorf("processes left in %s: %s", ns, pids)
				for _, p := range strings.Fields(string(pids)) {
					exec.Command("kill", "-KILL", p).Run()
				}
			}
			exec.Command("ip", "netns", "del", ns).Run() // its veth end goes with it
		}
		exec.Command("ip", "link", "del", l.bridge).Run()
	})
	sh(t, "ip", "link", "add", l.bridge, "type", "bridge")
	sh(t, "ip", "addr", "add", l.ip["harness"]+"/24", "dev", l.bridge)
	sh(t, "ip", "link", "set", l.bridge, "up")
	for i, role := range []string{"target", "k6a", "k6b"} {
		ns, host, peer := fmt.Sprintf("fh-%d-%s", id, role), fmt.Sprintf("fh%d%dh", id, i), fmt.Sprintf("fh%d%dn", id, i)
		l.ns[role], l.ip[role] = ns, fmt.Sprintf("%s.%d", net3, i+2)
		sh(t, "ip", "netns", "add", ns)
		sh(t, "ip", "link", "add", host, "type", "veth", "peer", "name", peer)
		sh(t, "ip", "link", "set", peer, "netns", ns)
		sh(t, "ip", "link", "set", host, "master", l.bridge, "up")
		sh(t, "ip", "netns", "exec", ns, "ip", "addr", "add", l.ip[role]+"/24", "dev", peer)
		sh(t, "ip", "netns", "exec", ns, "ip", "link", "set", peer, "up")
		sh(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	}
	return l
}

// Separate hosts, made of network namespaces: the target in one, two k6
// instances in two others, the harness coordinating from the bridge. The
// run's requests are the sum of the instances'; its merged p50/p99 are
// those of the union of the instances' raw samples (k6's --out json, added
// by the test's launch command) within one bucket; a threshold that fails
// on the merged data fails the run (exit 1); nothing is left in the
// namespaces afterwards.
func TestScaleOutAcrossNamespaces(t *testing.T) {
	k6, harness := needK6(t)
	l := newLab(t)
	dir := t.TempDir()
	script := countScript(t, dir)
	host := func(role string) string {
		// The launch command enters the namespace; the test adds k6's raw
		// samples (--out json) after the harness's arguments.
		return fmt.Sprintf(`    - launch: [ip, netns, exec, %s, sh, -c, 'exec "$0" "$@" --out json=%s/%s.json']
      address: %s
`, l.ns[role], dir, role, l.ip[role])
	}
	sc := filepath.Join(dir, "netns.yaml")
	os.WriteFile(sc, []byte(fmt.Sprintf(`name: k6-netns
levels: [4]
duration: 2s
driver: k6
script: %s
allow_remote: true   # the target's address is in this test's own namespace
k6:
  bin: %s
  collector: %s
  hosts:
%s%srequest: {path: "/export?rows=300&width=500"}
targets:
  - name: streamed
    command: [ip, netns, exec, %s, %s, serve, --impl, streamed, --addr, %s, --port, "{port}"]
    host: %s
`, script, k6, l.ip["harness"], host("k6a"), host("k6b"), l.ns["target"], harness, l.ip["target"], l.ip["target"])), 0o644)
	cmd := exec.Command(harness, "run", "--out", filepath.Join(dir, "run"), sc)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "k6 thresholds failed in 1 run(s)") {
		t.Fatalf("harness run: %v; want exit 1 for the threshold failed on the merged data\n%s", err, out)
	}
	r, err := result.Read(filepath.Join(dir, "run", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	run := r.Runs[0]
	if run.Error != "" || len(run.K6Instances) != 2 || run.PeakRSSBytes == 0 {
		t.Fatalf("run: error %q, %d instances, peak %d", run.Error, len(run.K6Instances), run.PeakRSSBytes)
	}
	a, b := run.K6Instances[0], run.K6Instances[1]
	if a.Requests == 0 || b.Requests == 0 || run.Requests != a.Requests+b.Requests || a.Address != l.ip["k6a"]+":6565" {
		t.Errorf("requests %d = %d + %d? instances %+v", run.Requests, a.Requests, b.Requests, run.K6Instances)
	}
	var raw []int64
	for _, role := range []string{"k6a", "k6b"} {
		for _, ms := range rawDurations(t, filepath.Join(dir, role+".json")) {
			raw = append(raw, int64(ms*1000))
		}
	}
	slices.Sort(raw)
	t.Logf("requests %d = %d (%s) + %d (%s); p50 %.3f ms, p99 %.3f ms merged; resume spread %.1f ms; target peak %.1f MiB",
		run.Requests, a.Requests, a.Address, b.Requests, b.Address, run.LatencyMs.P50, run.LatencyMs.P99, run.K6ResumeSpreadMs, float64(run.PeakRSSBytes)/(1<<20))
	if int64(len(raw)) != run.Requests {
		t.Fatalf("%d raw samples, %d requests merged", len(raw), run.Requests)
	}
	for q, got := range map[float64]float64{0.5: run.LatencyMs.P50, 0.99: run.LatencyMs.P99} {
		rank := min(max(int(q*float64(len(raw))+0.999999999), 1), len(raw))
		if want := raw[rank-1]; !hist.SameBucket(int64(got*1000+0.5), want) {
			t.Errorf("p%v: merged %.3f ms, union of raw samples %.3f ms: not within one bucket", q*100, got, float64(want)/1000)
		}
	}
	var reqs result.K6Threshold
	for _, th := range run.K6Thresholds {
		if th.Metric == "http_reqs" {
			reqs = th
		}
	}
	if reqs.OK || reqs.Value != float64(run.Requests) {
		t.Errorf("http_reqs threshold %+v: want it judged on the merged %d requests", reqs, run.Requests)
	}
}

// k6 instances the harness does not start: on two "hosts" (namespaces) a
// loop restarts k6 for each level, sending to the harness's collector at a
// fixed address and asking it for the level's job (flood.job): the
// target's URL, VUs and duration. remote: they start paused and the
// harness resumes them together; external: they start by themselves once
// the job is published (as k6-operator's runners do). Either way every
// level's requests are the sum of the two instances', its percentiles
// within one bucket of the union of their raw samples.
func TestInstancesElsewhereAcrossNamespaces(t *testing.T) {
	for _, mode := range []string{"remote", "external"} {
		t.Run(mode, func(t *testing.T) { elsewhere(t, mode) })
	}
}

func elsewhere(t *testing.T, mode string) {
	k6, harness := needK6(t)
	l := newLab(t)
	dir := t.TempDir()
	ln, err := net.Listen("tcp", l.ip["harness"]+":0")
	if err != nil {
		t.Fatal(err)
	}
	collector := ln.Addr().String()
	ln.Close()
	script := filepath.Join(dir, "remote.js")
	os.WriteFile(script, []byte(`import http from 'k6/http';
import flood from 'k6/x/flood';
const job = flood.job(__ENV.FLOOD_JOB);
export const options = {
  discardResponseBodies: true, vus: job.vus, duration: job.duration,
  thresholds: { http_req_failed: ['rate<0.01'] },
};
export default function () { http.get(job.url); }
`), 0o644)
	var loops []*exec.Cmd
	for i, role := range []string{"k6a", "k6b"} {
		seg := []string{"0:1/2", "1/2:1"}[i]
		start := fmt.Sprintf("--paused --address %s:6565", l.ip[role])
		if mode == "external" {
			start = "--address 127.0.0.1:0"
		}
		loop := fmt.Sprintf(`for level in 1 2; do
  %s run --quiet --no-usage-report %s --execution-segment %s --execution-segment-sequence 0,1/2,1 \
    --no-thresholds --out "flood=http://%s/?instance=%s-$level" --out "json=%s/%s-$level.json" -e FLOOD_JOB=http://%s/v1/job %s
  sleep 0.3
done`, k6, start, seg, collector, role, dir, role, collector, script)
		cmd := exec.Command("ip", "netns", "exec", l.ns[role], "sh", "-c", loop)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		out, _ := os.Create(filepath.Join(dir, role+".log"))
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
		loops = append(loops, cmd)
	}
	instances := fmt.Sprintf("remote: [%s:6565, %s:6565]", l.ip["k6a"], l.ip["k6b"])
	if mode == "external" {
		instances = "external: 2"
	}
	sc := filepath.Join(dir, "remote.yaml")
	os.WriteFile(sc, []byte(fmt.Sprintf(`name: k6-remote
levels: [2, 4]
duration: 2s
driver: k6
script: %s
allow_remote: true   # the target's address is in this test's own namespace
k6:
  bin: %s
  collector: %s
  %s
request: {path: "/export?rows=300&width=500"}
targets:
  - name: streamed
    command: [ip, netns, exec, %s, %s, serve, --impl, streamed, --addr, %s, --port, "{port}"]
    host: %s
`, script, k6, collector, instances, l.ns["target"], harness, l.ip["target"], l.ip["target"])), 0o644)
	cmd := exec.Command(harness, "run", "--out", filepath.Join(dir, "run"), sc)
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		a, _ := os.ReadFile(filepath.Join(dir, "k6a.log"))
		t.Fatalf("harness run: %v\n%s\nk6a:\n%s", err, out, a)
	}
	for _, loop := range loops {
		if err := loop.Wait(); err != nil {
			t.Errorf("a host's k6 loop: %v", err)
		}
	}
	r, err := result.Read(filepath.Join(dir, "run", "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	for i, run := range r.Runs {
		if len(run.K6Instances) != 2 || run.Error != "" {
			t.Fatalf("c=%d: error %q, instances %+v", run.Concurrency, run.Error, run.K6Instances)
		}
		a, b := run.K6Instances[0], run.K6Instances[1]
		if a.Requests == 0 || b.Requests == 0 || run.Requests != a.Requests+b.Requests {
			t.Errorf("c=%d: requests %d = %d + %d?", run.Concurrency, run.Requests, a.Requests, b.Requests)
		}
		var raw []int64
		for _, role := range []string{"k6a", "k6b"} {
			for _, ms := range rawDurations(t, filepath.Join(dir, fmt.Sprintf("%s-%d.json", role, i+1))) {
				raw = append(raw, int64(ms*1000))
			}
		}
		slices.Sort(raw)
		t.Logf("c=%d: requests %d = %d + %d; raw samples %d; p99 %.3f ms; resume spread %.1f ms", run.Concurrency, run.Requests, a.Requests, b.Requests, len(raw), run.LatencyMs.P99, run.K6ResumeSpreadMs)
		if int64(len(raw)) != run.Requests {
			t.Errorf("c=%d: %d raw samples, %d requests merged", run.Concurrency, len(raw), run.Requests)
			continue
		}
		rank := min(max(int(0.99*float64(len(raw))+0.999999999), 1), len(raw))
		if !hist.SameBucket(int64(run.LatencyMs.P99*1000+0.5), raw[rank-1]) {
			t.Errorf("c=%d: merged p99 %.3f ms, union %.3f ms", run.Concurrency, run.LatencyMs.P99, float64(raw[rank-1])/1000)
		}
	}
}
