package proc

import (
	"os"
	"os/exec"
	"testing"
)

func TestParseStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    Status
		wantErr bool
	}{
		{"normal", "Name:\tx\nVmPeak:\t 100 kB\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n", Status{RSS: 1 << 20, HWM: 2 << 20}, false},
		{"zombie", "Name:\tx\nState:\tZ (zombie)\n", Status{}, true},
		{"garbled", "VmHWM:\tlots kB\nVmRSS:\t1 kB\n", Status{}, true},
		{"wrong unit", "VmHWM:\t1 MB\nVmRSS:\t1 kB\n", Status{}, true},
		{"negative", "VmHWM:\t-1 kB\nVmRSS:\t1 kB\n", Status{}, true},
	}
	for _, tt := range tests {
		got, err := parseStatus([]byte(tt.in))
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("%s: parseStatus = %+v, %v; want %+v, err=%v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestReadStatusSelf(t *testing.T) {
	t.Parallel()
	st, err := ReadStatus(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.RSS <= 0 || st.HWM < st.RSS {
		t.Errorf("ReadStatus(self) = %+v, want 0 < RSS <= HWM", st)
	}
}

// /proc/PID/status is read for every sample: a garbled or truncated file is
// an error, never a panic or a negative size.
func FuzzParseStatus(f *testing.F) {
	f.Add([]byte("Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t    1024 kB\n"))
	f.Add([]byte("VmHWM:\tlots kB\n"))
	f.Add([]byte("VmHWM:\t-1 kB\nVmRSS:\t1 kB\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := parseStatus(data)
		if err == nil && (st.RSS < 0 || st.HWM < 0) {
			t.Fatalf("parseStatus(%q) = %+v", data, st)
		}
	})
}

func TestReadPSS(t *testing.T) {
	t.Parallel()
	pss, err := ReadPSS(os.Getpid())
	st, _ := ReadStatus(os.Getpid())
	if err != nil || pss <= 0 || pss > st.RSS {
		t.Errorf("ReadPSS = %d, %v; want 0 < PSS ≤ RSS (%d)", pss, err, st.RSS)
	}
	for _, bad := range []string{"Rss: 1 kB\n", "Pss: -4 kB\n", "Pss: 4 MB\n", "Pss: lots kB\n"} {
		if _, err := parsePSS([]byte(bad)); err == nil {
			t.Errorf("parsePSS(%q) accepted", bad)
		}
	}
}

// smaps_rollup is read for every process at every sample without a cgroup:
// garbage is an error, never a panic or a negative size.
func FuzzParsePSS(f *testing.F) {
	f.Add([]byte("55f2-7ffc ---p 00000000 00:00 0 [rollup]\nRss: 1708 kB\nPss: 660 kB\n"))
	f.Add([]byte("Pss: -1 kB\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := parsePSS(b); err == nil && v < 0 {
			t.Fatalf("parsePSS(%q) = %d", b, v)
		}
	})
}

// statm's resident pages parse or are an error, never a negative figure.
func FuzzParseStatmShared(f *testing.F) {
	f.Add([]byte("2411 1301 612 1 0 700 0\n"))
	f.Add([]byte("1 2 3"))
	f.Add([]byte("1 2"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if rss, shared, err := ParseStatmShared(b); err == nil && (shared < 0 || shared > rss) {
			t.Errorf("%q: resident %d, shared %d", b, rss, shared)
		}
	})
}

func FuzzParseStatm(f *testing.F) {
	f.Add([]byte("3183 2012 1234 264 0 820 0\n"))
	f.Add([]byte("1"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if n, err := ParseStatm(b); err == nil && n < 0 {
			t.Fatalf("%q: %d pages", b, n)
		}
	})
}

// The kept-open reader agrees with the kernel's own VmRSS for this
// process, reads its status again (not the first reading kept), and a file
// of a process that is gone fails instead of reading another's.
func TestReader(t *testing.T) {
	t.Parallel()
	var r Reader
	defer r.Close()
	rss, err := r.RSS(os.Getpid())
	st, serr := ReadStatus(os.Getpid())
	if err != nil || serr != nil || rss <= 0 || rss < st.RSS/2 || rss > st.RSS*2 {
		t.Fatalf("statm RSS %d (%v), status VmRSS %d (%v)", rss, err, st.RSS, serr)
	}
	kept, err := r.Status(os.Getpid())
	if err != nil || kept.HWM < st.RSS/2 || kept.HWM > 2*st.HWM {
		t.Fatalf("kept status %+v (%v), read whole %+v", kept, err, st)
	}
	grow := make([]byte, 64<<20)
	for i := range grow {
		grow[i] = 1
	}
	again, err := r.Status(os.Getpid())
	if err != nil || again.RSS < kept.RSS+32<<20 || again.HWM < again.RSS {
		t.Errorf("after touching 64 MiB the kept status reads %+v, before %+v (%v)", again, kept, err)
	}
	_ = grow[len(grow)-1]
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RSS(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Status(cmd.Process.Pid); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := r.RSS(cmd.Process.Pid); err == nil {
		t.Error("a process that is gone still reads")
	}
	if _, err := r.Status(cmd.Process.Pid); err == nil {
		t.Error("a process that is gone still reads its status")
	}
	r.Keep(map[int]bool{os.Getpid(): true})
	if len(r.fds) != 1 {
		t.Errorf("%d files kept, want 1", len(r.fds))
	}
}
