package launch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/launch"
	"runtime"
)

// The test binary doubles as the target: TestMain runs a helper server when
// TARGET_HELPER names a mode.
func TestMain(m *testing.M) {
	if mode := os.Getenv("TARGET_HELPER"); mode != "" {
		helper(mode, os.Args[len(os.Args)-1])
		return
	}
	os.Exit(m.Run())
}

// helper serves /healthz on port. Modes: "serve" exits on SIGTERM;
// "stubborn" ignores SIGTERM and starts a child in its process group;
// "sleep" only sleeps (that child).
func helper(mode, port string) {
	switch mode {
	case "sleep":
		time.Sleep(5 * time.Minute)
		return
	case "stubborn":
		signal.Ignore(syscall.SIGTERM)
		child := exec.Command(os.Args[0], "x")
		child.Env = append(os.Environ(), "TARGET_HELPER=sleep")
		if err := child.Start(); err != nil {
			os.Exit(5)
		}
	}
	var hog [][]byte
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("/hog", func(w http.ResponseWriter, _ *http.Request) {
		for range 64 { // 256 MiB, touched so it is resident
			b := make([]byte, 4<<20)
			for i := range b {
				b[i] = 1
			}
			hog = append(hog, b)
		}
		fmt.Fprint(w, len(hog))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		os.Exit(4)
	}
	if mode == "serve" {
		c := make(chan os.Signal, 1)
		signal.Notify(c, syscall.SIGTERM)
		go func() {
			<-c
			os.Exit(0)
		}()
	}
	_ = http.Serve(ln, mux)
}

func spec(t *testing.T, mode string) launch.Spec {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	marker := fmt.Sprintf("%s-%d", t.Name(), time.Now().UnixNano())
	return launch.Spec{
		Name: "helper", Label: "c1-r0",
		Command: []string{self, "-test.run=^$", "{port}"},
		// A race-built helper otherwise sleeps 1s at exit (TSan's atexit_sleep_ms).
		Env:           map[string]string{"TARGET_HELPER": mode, "TARGET_MARKER": marker, "GORACE": "atexit_sleep_ms=0"},
		Host:          "127.0.0.1",
		Health:        "/healthz",
		HealthTimeout: 10 * time.Second,
		LogDir:        t.TempDir(),
		Cgroups:       launch.SystemCgroups(),
		StopGrace:     300 * time.Millisecond,
	}
}

func assertNoSurvivors(t *testing.T, s launch.Spec) {
	t.Helper()
	if pids := harnesstest.Survivors("TARGET_MARKER", s.Env["TARGET_MARKER"]); len(pids) > 0 {
		t.Errorf("processes survived Stop: %v", pids)
	}
}

// ru_maxrss is kept only where it is the target's own: a process started
// the way Go starts one inherits the launcher's high-water mark at exec, so
// a small target's ru_maxrss is the harness's, not its own.
func TestMaxRSSIsTheTargets(t *testing.T) {
	t.Parallel()
	// This process's peak is far above an idle helper's, race-built or not.
	ballast := make([]byte, 128<<20)
	for i := range ballast {
		ballast[i] = 1
	}
	small := spec(t, "serve")
	p, err := launch.Start(context.Background(), small)
	runtime.KeepAlive(ballast)
	if err != nil {
		t.Fatal(err)
	}
	ex, _ := p.Stop()
	if ex.MaxRSS != 0 {
		t.Errorf("an idle helper's MaxRSS = %.1f MiB; want 0 (not above what it inherited from this test process)", float64(ex.MaxRSS)/(1<<20))
	}
	big := spec(t, "serve")
	if p, err = launch.Start(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(p.URL("/hog")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("hog: %v", err)
	}
	ex, _ = p.Stop()
	if ex.MaxRSS < 256<<20 {
		t.Errorf("after touching 256 MiB: MaxRSS = %.1f MiB, want at least 256", float64(ex.MaxRSS)/(1<<20))
	}
}

func TestStartStopGraceful(t *testing.T) {
	t.Parallel()
	s := spec(t, "serve")
	p, err := launch.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := http.Get(p.URL("/healthz")); err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz: %v", err)
	}
	ex, err := p.Stop()
	if err != nil || ex.Code != 0 || ex.Signal != "" || !ex.Stopped || ex.OOMKilled() {
		t.Errorf("Stop = %+v, %v; want a clean exit 0", ex, err)
	}
	if _, err := os.Stat(p.LogPath); err != nil || filepath.Base(p.LogPath) != "helper-c1-r0.log" {
		t.Errorf("log %q: %v", p.LogPath, err)
	}
	assertNoSurvivors(t, s)
	if _, err := p.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestStopKillsStubbornGroup(t *testing.T) {
	t.Parallel()
	s := spec(t, "stubborn")
	p, err := launch.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(harnesstest.Survivors("TARGET_MARKER", s.Env["TARGET_MARKER"])); n != 2 {
		t.Fatalf("want the helper and its child running, found %d", n)
	}
	ex, err := p.Stop()
	if err != nil || ex.Signal != "SIGKILL" || !ex.Stopped || ex.OOMKilled() {
		t.Errorf("Stop = %+v, %v; want SIGKILL sent by us, not an OOM", ex, err)
	}
	assertNoSurvivors(t, s)
}

func TestStartFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		command []string
		health  time.Duration
		want    []string
	}{
		{"exits at once", []string{"/bin/sh", "-c", "echo booting; echo 'bad config at line 3' >&2; exit 3", "{port}"}, 10 * time.Second,
			[]string{"exited before it was healthy", "bad config at line 3"}},
		{"never healthy", []string{"/bin/sh", "-c", "echo still warming up; exec sleep 30", "{port}"}, 300 * time.Millisecond,
			[]string{"did not answer 200 within", "still warming up"}},
		{"no such program", []string{"/nonexistent/server", "{port}"}, time.Second, []string{"no such file"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := spec(t, "serve")
			s.Command, s.HealthTimeout = tt.command, tt.health
			_, err := launch.Start(context.Background(), s)
			var se *launch.StartError
			if !errors.As(err, &se) || fault.KindOf(se) != fault.RunFailed {
				t.Fatalf("launch.Start = %v, want a launch.StartError with exit code 3", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			assertNoSurvivors(t, s)
		})
	}
}

func TestMemoryCapOOMKill(t *testing.T) {
	t.Parallel()
	if launch.SystemCgroups().Version() == "none" {
		t.Skip("no writable memory cgroup controller on this machine: the cap falls back to the watchdog")
	}
	s := spec(t, "serve")
	s.MemoryLimit = 64 << 20
	p, err := launch.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	if p.Cgroup == nil {
		t.Fatal("no cgroup made despite a memory limit and cgroup support")
	}
	dir := p.Cgroup.Dir
	if _, err := http.Get(p.URL("/hog")); err == nil {
		t.Error("a 256 MiB allocation under a 64 MiB cap answered")
	}
	select {
	case <-p.Done():
	case <-time.After(20 * time.Second):
		t.Fatal("the hog was not killed")
	}
	ex, err := p.Stop()
	if err != nil {
		t.Fatal(err)
	}
	if !ex.OOMKilled() || ex.Signal != "SIGKILL" || ex.OOMKills < 1 || ex.CgroupPeak < 32<<20 || ex.CgroupPeak > 65<<20 {
		// The kernel charges in pages and batches, so the peak may pass the cap by a little.
		t.Errorf("exit %+v: want an OOM kill with the cgroup's peak between 32 MiB and about the 64 MiB cap", ex)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cgroup %s not removed: %v", dir, err)
	}
	assertNoSurvivors(t, s)
}

func TestFakeCgroupV2(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	self := filepath.Join(root, "self")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(self, []byte("0::/user.slice/me\n"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "user.slice/me"), 0o755))
	must(os.WriteFile(filepath.Join(root, "cgroup.controllers"), []byte("cpu io memory pids\n"), 0o644))
	fs := launch.CgroupFS{Root: root, SelfFile: self}
	if v := fs.Version(); v != "v2" {
		t.Fatalf("Version = %q, want v2", v)
	}
	cg, err := fs.NewCgroup("flood-x", 512<<20)
	must(err)
	if b, _ := os.ReadFile(filepath.Join(cg.Dir, "memory.max")); string(b) != "536870912" {
		t.Errorf("memory.max = %q", b)
	}
	must(os.WriteFile(filepath.Join(cg.Dir, "memory.peak"), []byte("1234\n"), 0o644))
	must(os.WriteFile(filepath.Join(cg.Dir, "memory.events"), []byte("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\n"), 0o644))
	must(os.WriteFile(filepath.Join(cg.Dir, "memory.stat"), []byte("anon 777\nfile 1\n"), 0o644))
	if peak, err := cg.Peak(); peak != 1234 || err != nil {
		t.Errorf("Peak = %d, %v", peak, err)
	}
	if n, err := cg.OOMKills(); n != 1 || err != nil {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
	if n, err := cg.Anon(); n != 777 || err != nil {
		t.Errorf("Anon = %d, %v", n, err)
	}
	if fs := (launch.CgroupFS{Root: t.TempDir(), SelfFile: self}); fs.Version() != "none" {
		t.Errorf("a root without controllers: Version = %q, want none", fs.Version())
	}
}
