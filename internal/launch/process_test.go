package launch_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"runtime"
	"runtime/debug"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/launch"
)

// The test binary doubles as the target: TestMain runs a helper server when
// TARGET_HELPER names a mode.
func TestMain(m *testing.M) {
	if mode := os.Getenv("TARGET_HELPER"); mode != "" {
		helper(mode, os.Args[len(os.Args)-1])
		return
	}
	cgroups = cgroup.System().Prepare()
	code := m.Run()
	if err := cgroups.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// cgroups is where this test process makes its targets' cgroups.
var cgroups *cgroup.Maker

// helper serves /healthz on port. Modes: "serve" exits on SIGTERM;
// "stubborn" ignores SIGTERM and starts a child in its process group;
// "daemonize" starts a child that leaves its process group;
// "sleep" only sleeps (that child).
func helper(mode, port string) {
	switch mode {
	case "sleep":
		time.Sleep(5 * time.Minute)
		return
	case "daemonize":
		// A child in a session of its own: no longer in the target's
		// process group, as a daemon that detaches.
		child := exec.Command(os.Args[0], "x")
		child.Env = append(os.Environ(), "TARGET_HELPER=sleep")
		child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
		if err := child.Start(); err != nil {
			os.Exit(5)
		}
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
	mux.HandleFunc("/ping", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
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
		Cgroups:       cgroups,
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
	// This process's high-water mark back to what it holds now, well under
	// what the helper will touch.
	ballast = nil
	debug.FreeOSMemory()
	os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
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

// With a cgroup, a process the target started that left its process group
// (a daemon) is still the target's: counted among its processes, and
// stopped with it.
func TestDaemonStaysTheTargets(t *testing.T) {
	t.Parallel()
	if !cgroups.Available() {
		t.Skip("no cgroup can be made here: " + cgroups.Why())
	}
	s := spec(t, "daemonize")
	p, err := launch.Start(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for deadline := time.Now().Add(5 * time.Second); len(pids) < 2 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		pids, _ = p.Cgroup.PIDs()
	}
	if len(pids) != 2 {
		t.Errorf("the target's cgroup holds %v, want the server and its daemon", pids)
	}
	p.Stop()
	assertNoSurvivors(t, s)
}

// A health path the server answers 204 No Content (a common ping) is up:
// any 2xx is, and the process says which it got.
func TestHealthAnswering204IsUp(t *testing.T) {
	t.Parallel()
	s := spec(t, "serve")
	s.Health = "/ping"
	p, err := launch.Start(context.Background(), s)
	if err != nil {
		t.Fatalf("Start with a health path answering 204: %v", err)
	}
	defer p.Stop()
	if p.HealthStatus != http.StatusNoContent {
		t.Errorf("HealthStatus = %d, want 204", p.HealthStatus)
	}
}

// A health path the server answers 404 (or anything but a 2xx) fails in
// seconds, naming what it got and the key to set, not after the timeout.
func TestWrongHealthPathFailsFast(t *testing.T) {
	t.Parallel()
	s := spec(t, "serve")
	s.Health, s.HealthTimeout, s.HealthKey = "/health", 30*time.Second, "targets[0].health"
	start := time.Now()
	p, err := launch.Start(context.Background(), s)
	if err == nil {
		p.Stop()
		t.Fatal("Start succeeded on a 404 health path")
	}
	if took := time.Since(start); took > 10*time.Second ||
		!strings.Contains(err.Error(), "/health → 404 for 3s; set targets[0].health to a path your server answers with a 2xx") {
		t.Errorf("after %v: %v", took.Round(time.Millisecond), err)
	}
	assertNoSurvivors(t, s)
}

// A server that is not the target answering on the target's port is found
// out before anything is flooded.
func TestStartRefusesAnImpostor(t *testing.T) {
	t.Parallel()
	impostor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }))
	defer impostor.Close()
	s := spec(t, "sleep") // starts, never listens
	s.Port = impostor.Listener.Addr().(*net.TCPAddr).Port
	p, err := launch.Start(context.Background(), s)
	if err == nil {
		p.Stop()
		t.Fatal("Start succeeded though another server answered on the target's port")
	}
	if !strings.Contains(err.Error(), "no process of the target holds a socket listening on port") {
		t.Errorf("Start = %v", err)
	}
	assertNoSurvivors(t, s)
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
	if !cgroups.Available() {
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

// fakeV2 is a cgroup v2 tree in a temporary directory: the harness (pid)
// in /user.slice/me with the processes others, memory handed down to it.
func fakeV2(t *testing.T, pid int, others ...int) (cgroup.FS, string) {
	t.Helper()
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	self := filepath.Join(root, "self")
	must(os.WriteFile(self, []byte("0::/user.slice/me\n"), 0o644))
	own := filepath.Join(root, "user.slice/me")
	must(os.MkdirAll(own, 0o755))
	for _, d := range []string{root, filepath.Join(root, "user.slice"), own} {
		must(os.WriteFile(filepath.Join(d, "cgroup.controllers"), []byte("cpu io memory pids\n"), 0o644))
	}
	must(os.WriteFile(filepath.Join(root, "user.slice", "cgroup.subtree_control"), []byte("memory pids\n"), 0o644))
	procs := fmt.Sprint(pid)
	for _, o := range others {
		procs += fmt.Sprintf("\n%d", o)
	}
	must(os.WriteFile(filepath.Join(own, "cgroup.procs"), []byte(procs+"\n"), 0o644))
	return cgroup.FS{Root: root, SelfFile: self, PID: pid}, root
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// Alone in its cgroup, the harness moves itself into a leaf, hands memory
// down, makes target cgroups beside the leaf, and undoes it all at Close.
func TestFakeCgroupV2Leaf(t *testing.T) {
	t.Parallel()
	const pid = 4242
	fs, root := fakeV2(t, pid)
	own := filepath.Join(root, "user.slice/me")
	c := fs.Prepare()
	if !c.Available() || c.Mode() != "v2 in a leaf of the harness's cgroup" || c.Version() != "v2" {
		t.Fatalf("Prepare: available %v, mode %q, note %q", c.Available(), c.Mode(), c.Why())
	}
	leaf := filepath.Join(own, "flood-harness-4242-self")
	if got := readFile(t, filepath.Join(leaf, "cgroup.procs")); got != "4242" {
		t.Errorf("leaf cgroup.procs = %q, want the harness moved there", got)
	}
	if got := readFile(t, filepath.Join(own, "cgroup.subtree_control")); got != "+memory" {
		t.Errorf("subtree_control = %q, want +memory", got)
	}
	cg, err := c.New("buffered-c1-r0", 512<<20)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(cg.Dir) != own || !strings.HasPrefix(filepath.Base(cg.Dir), "flood-harness-4242-") {
		t.Errorf("target cgroup %s, want flood-harness-4242-… in %s", cg.Dir, own)
	}
	for file, want := range map[string]string{"memory.max": "536870912", "memory.oom.group": "1", "memory.swap.max": "0"} {
		if got := readFile(t, filepath.Join(cg.Dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	os.WriteFile(filepath.Join(cg.Dir, "memory.peak"), []byte("1234\n"), 0o644)
	os.WriteFile(filepath.Join(cg.Dir, "memory.events"), []byte("low 0\nhigh 0\nmax 9\noom 2\noom_kill 1\noom_group_kill 1\n"), 0o644)
	os.WriteFile(filepath.Join(cg.Dir, "memory.stat"), []byte("anon 777\nfile 1\n"), 0o644)
	if peak, err := cg.Peak(); peak != 1234 || err != nil {
		t.Errorf("Peak = %d, %v", peak, err)
	}
	if n, err := cg.OOMKills(); n != 1 || err != nil {
		t.Errorf("OOMKills = %d, %v", n, err)
	}
	if n, err := cg.Anon(); n != 777 || err != nil {
		t.Errorf("Anon = %d, %v", n, err)
	}
	// A fake tree cannot delete a directory with files in it; the kernel's can.
	for _, f := range []string{"memory.max", "memory.oom.group", "memory.swap.max", "memory.peak", "memory.events", "memory.stat"} {
		os.Remove(filepath.Join(cg.Dir, f))
	}
	if err := cg.Remove(); err != nil {
		t.Error(err)
	}
	os.Remove(filepath.Join(leaf, "cgroup.procs"))
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if got := readFile(t, filepath.Join(own, "cgroup.subtree_control")); got != "-memory" {
		t.Errorf("after Close subtree_control was last written %q, want -memory", got)
	}
	if got := readFile(t, filepath.Join(own, "cgroup.procs")); got != "4242" {
		t.Errorf("after Close the harness is not back in its cgroup: %q", got)
	}
	if _, err := os.Stat(leaf); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("leaf %s left behind: %v", leaf, err)
	}
}

// Sharing its cgroup with other processes (a shell), the harness moves
// nobody: it makes a cgroup of its own beside its cgroup.
func TestFakeCgroupV2Beside(t *testing.T) {
	t.Parallel()
	fs, root := fakeV2(t, 4242, 1, 77)
	c := fs.Prepare()
	base := filepath.Join(root, "user.slice", "flood-harness-4242")
	if !c.Available() || c.Mode() != "v2 beside the harness's cgroup" {
		t.Fatalf("Prepare: available %v, mode %q, note %q", c.Available(), c.Mode(), c.Why())
	}
	if got := readFile(t, filepath.Join(root, "user.slice/me/cgroup.procs")); got != "4242\n1\n77" {
		t.Errorf("the harness's cgroup now holds %q: nobody should have moved", got)
	}
	cg, err := c.New("a", 64<<20)
	if err != nil || filepath.Dir(cg.Dir) != base {
		t.Fatalf("New = %v, %v; want a cgroup in %s", cg, err, base)
	}
	for _, f := range []string{"memory.max", "memory.oom.group", "memory.swap.max"} {
		os.Remove(filepath.Join(cg.Dir, f))
	}
	os.Remove(filepath.Join(base, "cgroup.subtree_control"))
	if err := c.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if _, err := os.Stat(base); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s left behind: %v", base, err)
	}
}

// What a harness that died left behind is removed by the next one; what a
// live harness made is not touched.
func TestPrepareRemovesStale(t *testing.T) {
	t.Parallel()
	fs, root := fakeV2(t, os.Getpid(), 1)
	dead := filepath.Join(root, "user.slice", "flood-harness-999999999")
	live := filepath.Join(root, "user.slice", fmt.Sprintf("flood-harness-%d-2-x", os.Getppid()))
	for _, d := range []string{filepath.Join(dead, "flood-harness-999999999-1-a"), live} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	c := fs.Prepare()
	defer c.Close()
	if len(c.Stale()) != 1 || c.Stale()[0] != dead {
		t.Errorf("Stale = %q, want [%s]", c.Stale(), dead)
	}
	if _, err := os.Stat(dead); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale %s not removed", dead)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a live harness's cgroup was removed: %v", err)
	}
}

// Where no cgroup can be made, Prepare says why, with the error of each
// way it tried.
func TestPrepareNoteWhenNoCgroup(t *testing.T) {
	t.Parallel()
	fs, root := fakeV2(t, 4242, 1)
	// Nothing can be created: the tree is read-only.
	for _, d := range []string{root, filepath.Join(root, "user.slice"), filepath.Join(root, "user.slice/me")} {
		os.Chmod(d, 0o555)
		defer os.Chmod(d, 0o755)
	}
	os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), nil, 0o444)
	if os.Getuid() == 0 {
		t.Skip("root writes read-only directories")
	}
	c := fs.Prepare()
	if c.Available() || !strings.Contains(c.Why(), "cgroup v2") {
		t.Errorf("Prepare on a read-only tree: available %v, note %q", c.Available(), c.Why())
	}
	if _, err := c.New("a", 64<<20); err == nil {
		t.Error("New succeeded without a cgroup")
	}
	none := cgroup.FS{Root: t.TempDir(), SelfFile: filepath.Join(root, "self")}.Prepare()
	if none.Available() || none.Version() != "none" || !strings.Contains(none.Why(), "no memory cgroup controller") {
		t.Errorf("a root without controllers: available %v, version %q, note %q", none.Available(), none.Version(), none.Why())
	}
}
