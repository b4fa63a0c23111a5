//go:build e2e

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/result"
)

// containerScenario writes a scenario of the reference server's buffered
// and streamed exports run by e from image under a 256 MiB container
// limit.
func containerScenario(t *testing.T, e engine, image, levels, duration string) string {
	t.Helper()
	target := func(impl string) string {
		return fmt.Sprintf(`  - name: %s
    container:
      engine: %s
      image: %s
      command: [--impl, %s, --addr, 0.0.0.0, --port, "8080"]
      port: 8080
`, impl, e.name, image, impl)
	}
	sc := filepath.Join(t.TempDir(), "containers.yaml")
	os.WriteFile(sc, []byte(`name: containers-test
levels: [`+levels+`]
duration: `+duration+`
grace: 20s
request: {path: "/export?rows=4000&width=2000", validate: json}
client: {read_rate: 2MiB, recv_buffer: 64KiB}
memory: {limit: 256MiB, heap_profile: "off"}
targets:
`+target("buffered")+target("streamed")), 0o644)
	return sc
}

// containersOf lists the containers (running or not) a harness with this
// PID started.
func containersOf(t *testing.T, e engine, pid int) []string {
	t.Helper()
	out, err := e.cmd("ps", "--all", "--filter", fmt.Sprintf("name=^flood-harness-%d-", pid), "--format", "{{.Names}}").Output()
	if err != nil {
		t.Fatalf("%s ps: %v", e.name, err)
	}
	return strings.Fields(string(out))
}

// cgroupsOf lists the cgroup directories, in any hierarchy, a harness with
// this PID made.
func cgroupsOf(pid int) []string {
	var left []string
	name := regexp.MustCompile(fmt.Sprintf(`^flood-harness-%d-`, pid))
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if name.MatchString(d.Name()) {
			left = append(left, p)
			return filepath.SkipDir
		}
		return nil
	})
	return left
}

// The reference servers as containers, the way they are deployed, under a
// 256 MiB container limit: 40 concurrent ~8.6 MB downloads get the buffered
// container killed by the kernel at its cap — the cgroup's peak charge at
// the cap, exit 137, whatever the engine's own OOMKilled flag says — while
// the streamed container serves every download with a flat peak. Then:
// SIGINT mid-level leaves no container and no cgroup; a SIGKILLed
// harness's container and cgroups are removed by the next harness start.
// One test, its parts in turn: a part that removes a dead harness's
// leftovers must not race another part's.
func TestContainerTargets(t *testing.T) { containerTargets(t, podman(t)) }

// The same with docker (issue 24: proven, not assumed), against a dockerd
// of the test's own.
func TestContainerTargetsDocker(t *testing.T) { containerTargets(t, startDockerd(t)) }

func containerTargets(t *testing.T, e engine) {
	image := needImage(t, e)

	t.Run("buffered killed at the cap, streamed flat", func(t *testing.T) {
		dir := t.TempDir()
		out, err := e.harness("run", "--out", dir, containerScenario(t, e, image, "1, 40", "3s")).CombinedOutput()
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		t.Log("\n" + string(out))
		if !strings.Contains(string(out), "buffered ran as a "+e.name+" container of "+image) {
			t.Errorf("the run does not say how the targets ran:\n%s", out)
		}
		r := readResults(t, dir)
		buf, str, str1 := only(t, r, "buffered", 40), only(t, r, "streamed", 40), only(t, r, "streamed", 1)
		if !buf.OOMKilled || buf.Exit.Code != 137 || buf.PeakRSSSource != result.PeakCgroup || buf.Container == nil || buf.Container.Engine != e.name {
			t.Errorf("buffered c=40: oom %v, exit %+v, source %s, container %+v; want killed at the cap (137), measured from its cgroup", buf.OOMKilled, buf.Exit, buf.PeakRSSSource, buf.Container)
		}
		if buf.OOMKills < 1 {
			t.Errorf("buffered c=40: oom_kills %d; want the cgroup's count, read while the container's cgroup existed", buf.OOMKills)
		}
		if !buf.Container.EngineOOMKilled {
			t.Errorf("buffered c=40: engine_oom_killed false; want the engine's hint read (podman: conmon's mark in its working directory)")
		}
		if limit := int64(256 << 20); buf.PeakRSSBytes < limit*9/10 || buf.PeakRSSBytes > limit+(1<<20) {
			t.Errorf("buffered c=40: cgroup peak %.1f MiB, want at the 256 MiB cap", mib(buf.PeakRSSBytes))
		}
		for _, run := range []result.Run{str, str1} {
			if run.OOMKilled || run.OK == 0 || run.Failed != 0 || run.PeakRSSSource != result.PeakCgroup || run.Container == nil || run.Container.Image != image {
				t.Errorf("streamed c=%d: oom %v, %d ok, %d failed %v, source %s, container %+v", run.Concurrency, run.OOMKilled, run.OK, run.Failed, run.Errors, run.PeakRSSSource, run.Container)
			}
		}
		if str1.IdleRSSBytes <= 0 || str1.IdleRSSBytes > str1.PeakRSSBytes {
			t.Errorf("streamed c=1: idle %d bytes, peak %d: want the idle charge in the peak's measure, below it", str1.IdleRSSBytes, str1.PeakRSSBytes)
		}
		// Flat: 39 more downloads in flight add less than one body.
		if body := str.BytesReceived / max(str.OK, 1); str.PeakRSSBytes-str1.PeakRSSBytes > body || str.PeakRSSBytes*10 > buf.PeakRSSBytes {
			t.Errorf("streamed peak %.1f MiB at c=40, %.1f at c=1 (body %.1f MiB), buffered %.1f; want flat and a tenth of buffered",
				mib(str.PeakRSSBytes), mib(str1.PeakRSSBytes), mib(body), mib(buf.PeakRSSBytes))
		}
		for _, run := range []result.Run{buf, str} {
			if b, err := os.ReadFile(filepath.Join(dir, run.Log)); err != nil || !strings.Contains(string(b), "listening") {
				t.Errorf("%s: the container's log %s: %v %q", run.Target, run.Log, err, b)
			}
		}
	})

	t.Run("SIGINT mid-level leaves no container", func(t *testing.T) {
		cmd, stderr := floodingContainers(t, e, image)
		defer syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if len(containersOf(t, e, cmd.Process.Pid)) != 1 {
			t.Fatalf("want the one container of the level running: %v", containersOf(t, e, cmd.Process.Pid))
		}
		cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Errorf("after SIGINT: %v, want exit 3\n%s", err, stderr.String())
		}
		if left := containersOf(t, e, cmd.Process.Pid); len(left) > 0 {
			t.Errorf("containers left after SIGINT: %v", left)
		}
		if left := cgroupsOf(cmd.Process.Pid); len(left) > 0 {
			t.Errorf("cgroups left after SIGINT: %v", left)
		}
	})

	t.Run("a SIGKILLed harness's container is removed by the next start", func(t *testing.T) {
		cmd, _ := floodingContainers(t, e, image)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		_ = cmd.Wait()
		dead := cmd.Process.Pid
		left := containersOf(t, e, dead)
		if len(left) != 1 {
			t.Fatalf("after SIGKILL, containers %v: want the level's container still there (no parent-death signal reaches it)", left)
		}
		t.Cleanup(func() { _ = e.cmd("rm", "--force", left[0]).Run() })
		next := t.TempDir()
		out, err := e.harness("run", "--out", next, "--levels", "1", "--targets", "streamed", containerScenario(t, e, image, "1", "1s")).CombinedOutput()
		if err != nil {
			t.Fatalf("next run: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "removed container "+left[0]+", left by a harness that is no longer running") {
			t.Errorf("the next start does not say it removed %s:\n%s", left[0], out)
		}
		if left := containersOf(t, e, dead); len(left) > 0 {
			t.Errorf("containers of the dead harness left: %v", left)
		}
		if left := cgroupsOf(dead); len(left) > 0 {
			t.Errorf("cgroups of the dead harness left: %v", left)
		}
		if left, _ := filepath.Glob(filepath.Join(os.TempDir(), fmt.Sprintf("flood-harness-%d-*", dead))); len(left) > 0 {
			t.Errorf("the dead harness's engine directories left: %v", left)
		}
	})
}

// floodingContainers starts a harness run of a long container level and
// returns once it is mid-flood.
func floodingContainers(t *testing.T, e engine, image string) (*exec.Cmd, *lockedBuffer) {
	t.Helper()
	cmd := e.harness("run", "--out", t.TempDir(), containerScenario(t, e, image, "4", "60s"))
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFlooding(t, stderr)
	return cmd, stderr
}

// waitFlooding waits until the harness says it is flooding.
func waitFlooding(t *testing.T, stderr *lockedBuffer) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(stderr.String(), "flooding"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("never started flooding:\n%s", stderr.String())
		}
	}
	time.Sleep(500 * time.Millisecond) // mid-flood
}

// startDockerd starts a docker daemon of the test's own — its own data and
// exec roots, socket and PID file, no iptables rules — and returns docker
// pointed at it (DOCKER_HOST). When the test ends: the daemon is stopped
// (its managed containerd with it), the docker0 bridge it made removed
// (unless one was there before), its directories removed.
func startDockerd(t *testing.T) engine {
	t.Helper()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs docker.io", "dockerd", "docker")
	// A short path: the daemon's and containerd's sockets live below it.
	dir, err := os.MkdirTemp("", "dockerd-")
	if err != nil {
		t.Fatal(err)
	}
	_, bridgeErr := os.Stat("/sys/class/net/docker0")
	hadBridge := bridgeErr == nil
	sock := filepath.Join(dir, "docker.sock")
	log, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	d := harnesstest.Command("dockerd", "--data-root", filepath.Join(dir, "data"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+sock, "--pidfile", filepath.Join(dir, "dockerd.pid"), "--iptables=false", "--ip-masq=false")
	d.Stdout, d.Stderr = log, log
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = d.Wait(); close(done) }()
	e := engine{name: "docker", env: []string{"DOCKER_HOST=unix://" + sock}}
	t.Cleanup(func() {
		_ = d.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-d.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if !hadBridge {
			_ = exec.Command("ip", "link", "delete", "docker0").Run()
		}
		log.Close()
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("remove the daemon's directory: %v", err)
		}
	})
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if e.cmd("version").Run() == nil {
			return e
		}
		select {
		case <-done:
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("dockerd exited:\n%s", b)
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(log.Name())
			t.Fatalf("dockerd did not answer within 60s:\n%s", b)
		}
	}
}

// harness is a harness command that reaches the same daemon.
func (e engine) harness(args ...string) *exec.Cmd {
	cmd := harnesstest.Command(harnessBin, args...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), e.env...)
	return cmd
}
