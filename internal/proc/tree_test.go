package proc

import (
	"net"
	"os"
	"os/exec"
	"slices"
	"testing"
)

func TestParseCgroups(t *testing.T) {
	t.Parallel()
	m := parseCgroups([]byte("12:cpu,cpuacct:/c\n4:memory:/user.slice/a\n1:name=systemd:/x\n0::/user.slice/user-1000.slice/app.slice/u.scope\n"))
	want := Membership{V1Memory: "/user.slice/a", HasV1Memory: true, V2: "/user.slice/user-1000.slice/app.slice/u.scope", HasV2: true}
	if m != want {
		t.Errorf("parseCgroups = %+v, want %+v", m, want)
	}
	if m := parseCgroups([]byte("4:memory:/a\n")); m.HasV2 || m.V1Memory != "/a" {
		t.Errorf("v1-only file: %+v", m)
	}
	if m := parseCgroups([]byte("0::/\n")); !m.HasV2 || m.V2 != "/" || m.HasV1Memory {
		t.Errorf("v2 root: %+v", m)
	}
}

func FuzzParseCgroups(f *testing.F) {
	f.Add([]byte("4:memory:/a\n0::/b\n"))
	f.Add([]byte("0::\n::\n1:memory,cpu:/x:y\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m := parseCgroups(b)
		if !m.HasV2 && m.V2 != "" || !m.HasV1Memory && m.V1Memory != "" {
			t.Errorf("a path without its line: %+v", m)
		}
	})
}

func TestParseStat(t *testing.T) {
	t.Parallel()
	st, err := parseStat([]byte("42 (a (b) c) S 7 42 42 0 -1"))
	if err != nil || st != (Stat{State: 'S', PPID: 7, PGID: 42}) {
		t.Errorf("parseStat = %+v, %v", st, err)
	}
	for _, bad := range []string{"", "42 (x", "42 (x) S", "42 (x) SS 1 2", "42 (x) S a 2"} {
		if _, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q): no error", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("1 (init) S 0 1 1 0"))
	f.Add([]byte("9 ()) Z 1 9"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, err := parseStat(b); err == nil && st.State == 0 {
			t.Errorf("parsed %q with no state", b)
		}
	})
}

// TestTreeOfThisProcess starts a child of a child and finds both as this
// process's descendants, and this process in its own group.
func TestTreeOfThisProcess(t *testing.T) {
	cmd := exec.Command("sh", "-c", "sleep 30 & wait")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var kids []int
	for range 200 {
		if kids = Descendants(cmd.Process.Pid); len(kids) > 0 {
			break
		}
		exec.Command("sleep", "0.01").Run()
	}
	if len(kids) != 1 {
		t.Fatalf("sh's descendants = %v, want its sleep", kids)
	}
	defer func() { _ = syscallKill(kids[0]) }()
	if d := Descendants(os.Getpid()); !slices.Contains(d, cmd.Process.Pid) || !slices.Contains(d, kids[0]) {
		t.Errorf("descendants of this process = %v, want %d and %d among them", d, cmd.Process.Pid, kids[0])
	}
	st, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if g := Group(st.PGID); !slices.Contains(g, os.Getpid()) {
		t.Errorf("group %d = %v, without this process", st.PGID, g)
	}
	if Zombie(os.Getpid()) {
		t.Error("this process reads as a zombie")
	}
}

func syscallKill(pid int) error {
	p, err := os.FindProcess(pid)
	if err != nil {
		return err
	}
	return p.Kill()
}

func TestListenerPID(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	if pid, err := ListenerPID(port); err != nil || pid != os.Getpid() {
		t.Errorf("ListenerPID(%d) = %d, %v; want this process (%d)", port, pid, err, os.Getpid())
	}
	ln.Close()
	if _, err := ListenerPID(port); err == nil {
		t.Errorf("a closed port: no error")
	}
}
