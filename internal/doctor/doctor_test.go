package doctor

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/cgroup"
	"github.com/floodharness/harness/internal/launch"
)

func fakeOptions(t *testing.T, cg cgroup.FS, onPath ...string) Options {
	return Options{
		Cgroups: cg, Dir: t.TempDir(),
		LookPath: func(name string) (string, error) {
			for _, p := range onPath {
				if p == name {
					return "/usr/bin/" + name, nil
				}
			}
			return "", errors.New("not found")
		},
		Run:        func(string, ...string) error { return errors.New("exit status 1") },
		Containers: func(launch.Engine) ([]string, []bool, error) { return nil, nil, nil },
		Output:     func(string, ...string) ([]byte, error) { return nil, errors.New("not found") },
		ReadFile: func(p string) ([]byte, error) {
			if p == "/proc/sys/net/ipv4/tcp_rmem" {
				return []byte("4096\t131072\t6291456\n"), nil
			}
			return nil, os.ErrNotExist
		},
	}
}

// Without a cgroup, the doctor says the cap is the watchdog's, why, and
// what to do; optional tools that are missing are named with their fix.
func TestDoctorWatchdogOnly(t *testing.T) {
	t.Parallel()
	none := cgroup.FS{Root: t.TempDir(), SelfFile: filepath.Join(t.TempDir(), "missing")}
	r := Run(fakeOptions(t, none, "podman"))
	if r.Cap || r.KernelPeak {
		t.Errorf("Cap %v, KernelPeak %v; want neither", r.Cap, r.KernelPeak)
	}
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"WATCHDOG ONLY: cannot tell which cgroup", "overshoot",
		"fix: mount cgroup v2",
		"missing  k6", "fix: make k6",
		"ok       containers        /usr/bin/podman",
		"missing  chromium", "missing  python seeds",
		"tcp_rmem max 6144 KiB",
		"NO kernel cap here",
	} {
		if !strings.Contains(squeezed(out), squeezed(want)) {
			t.Errorf("report does not say %q:\n%s", want, out)
		}
	}
}

// On this machine's cgroups (when there are any) the doctor makes a capped
// cgroup and reads its peak.
func TestDoctorOnThisHost(t *testing.T) {
	t.Parallel()
	cg := cgroup.System()
	probe := cg.Prepare()
	available := probe.Available()
	if err := probe.Close(); err != nil {
		t.Fatal(err)
	}
	if !available {
		t.Skip("no memory cgroup can be made here")
	}
	r := Run(fakeOptions(t, cg))
	if !r.Cap || !r.KernelPeak {
		t.Errorf("Cap %v, KernelPeak %v on a host with cgroups:\n%+v", r.Cap, r.KernelPeak, r.Checks)
	}
}

// Containers a harness started and left behind (it was SIGKILLed) are
// named, and only those whose harness is gone.
func TestDoctorListsLeftContainers(t *testing.T) {
	t.Parallel()
	o := fakeOptions(t, cgroup.FS{Root: t.TempDir(), SelfFile: filepath.Join(t.TempDir(), "missing")}, "podman")
	o.Containers = func(e launch.Engine) ([]string, []bool, error) {
		if e.Name != "podman" || e.Program != "/usr/bin/podman" {
			t.Errorf("asked %+v", e)
		}
		return []string{"flood-harness-1-1-a-c1-r0", "flood-harness-2-1-b-c1-r0"}, []bool{true, false}, nil
	}
	var b strings.Builder
	if err := Run(o).Write(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if !strings.Contains(out, "weak     containers") || !strings.Contains(out, "1 container(s) left by harnesses that died: flood-harness-1-1-a-c1-r0") || strings.Contains(out, "flood-harness-2-") {
		t.Errorf("doctor says:\n%s", out)
	}
}

// bin/k6 is checked for both parts of the extension: an older build
// without the output cannot merge several instances.
func TestDoctorK6Extensions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		version, want string
	}{
		{"k6 v1.8.1\nExtensions:\n  x (devel), flood [output]\n  x (devel), k6/x/flood [js]\n", "ok       k6                bin/k6 (with the k6/x/flood module and the flood output)"},
		{"k6 v1.8.1\nExtensions:\n  x (devel), k6/x/flood [js]\n", "weak     k6                bin/k6 lacks the k6/x/flood module or the flood output"},
	} {
		o := fakeOptions(t, cgroup.FS{Root: t.TempDir(), SelfFile: filepath.Join(t.TempDir(), "missing")})
		os.MkdirAll(filepath.Join(o.Dir, "bin"), 0o755)
		os.WriteFile(filepath.Join(o.Dir, "bin", "k6"), nil, 0o755)
		o.Output = func(name string, args ...string) ([]byte, error) { return []byte(tt.version), nil }
		var b strings.Builder
		if err := Run(o).Write(&b); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(squeezed(b.String()), squeezed(tt.want)) {
			t.Errorf("k6 version %q: doctor says\n%s\nwant %q", tt.version, b.String(), tt.want)
		}
	}
}

// An engine on PATH that cannot answer (docker without a daemon it can
// reach) is not ok: the doctor says which engine works.
func TestDoctorContainersOnlyWhenAnEngineWorks(t *testing.T) {
	t.Parallel()
	none := cgroup.FS{Root: t.TempDir(), SelfFile: filepath.Join(t.TempDir(), "missing")}
	noDaemon := func(e launch.Engine) ([]string, []bool, error) {
		if e.Name == "docker" {
			return nil, nil, errors.New("Cannot connect to the Docker daemon at unix:///var/run/docker.sock")
		}
		return nil, nil, nil
	}
	o := fakeOptions(t, none, "docker")
	o.Containers = noDaemon
	c := containerCheck(o)
	if c.Status == OK || !strings.Contains(c.Detail, "docker does not work here: Cannot connect") {
		t.Errorf("docker alone, no daemon: %v %q", c.Status, c.Detail)
	}
	o = fakeOptions(t, none, "docker", "podman")
	o.Containers = noDaemon
	if c := containerCheck(o); c.Status != OK || !strings.Contains(c.Detail, "/usr/bin/podman works (engine: podman)") || !strings.Contains(c.Detail, "docker does not work") {
		t.Errorf("podman and a broken docker: %v %q", c.Status, c.Detail)
	}
}

// heap: auto is listed by runtime: ok where the runtime itself says it
// has the mechanism, weak where it is there without it, missing where it
// is not on PATH; native servers are said to be uncovered.
func TestDoctorHeapAuto(t *testing.T) {
	t.Parallel()
	o := fakeOptions(t, cgroup.FS{Root: t.TempDir(), SelfFile: filepath.Join(t.TempDir(), "missing")}, "python3", "node")
	o.Run = func(name string, args ...string) error {
		if strings.HasSuffix(name, "node") {
			return errors.New("exit status 1")
		}
		return nil
	}
	var b strings.Builder
	if err := Run(o).Write(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ok       heap: auto (CPython)", "missing  heap: auto (Ruby)", "weak     heap: auto (Node)", "missing  heap: auto (native)"} {
		if !strings.Contains(squeezed(b.String()), squeezed(want)) {
			t.Errorf("doctor says\n%s\nwant %q", b.String(), want)
		}
	}
}

// squeezed is s with every run of spaces one space: the report's columns
// are as wide as its longest name.
func squeezed(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == ' ' }), " ")
}

// The names' column is as wide as the longest name: every detail starts
// in the same column.
func TestDoctorColumns(t *testing.T) {
	t.Parallel()
	r := Report{Checks: []Check{{Name: "k6", Status: OK, Detail: "a"}, {Name: "heap: auto (CPython)", Status: Missing, Detail: "b", Fix: "c"}}}
	var b strings.Builder
	if err := r.Write(&b); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	col := strings.Index(lines[0], " a")
	if col < 0 || strings.Index(lines[1], " b") != col || strings.Index(lines[2], " fix: c") != col {
		t.Errorf("columns:\n%s", b.String())
	}
}
