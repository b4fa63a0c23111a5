package load

import (
	"strings"
	"syscall"
	"testing"
)

func TestHostCheck(t *testing.T) {
	t.Parallel()
	h := Host{Files: 20000, Hard: 20000, Ports: 28232}
	if got := h.Largest(); got != 20000-Reserve {
		t.Errorf("largest %d, want %d", got, 20000-Reserve)
	}
	if err := h.Check(h.Largest(), false); err != nil {
		t.Errorf("the largest level refused: %v", err)
	}
	if err := h.Check(h.Largest()+1, false); err == nil || !strings.Contains(err.Error(), "needs 20001 open files") {
		t.Errorf("one past the files: %v", err)
	}
	wide := Host{Files: 1 << 20, Hard: 1 << 20, Ports: 28232}
	if got := wide.Largest(); got != 1<<20-Reserve {
		t.Errorf("largest with files to spare %d, want the files (loopback spreads over sources)", got)
	}
	if err := wide.Check(30000, false); err == nil || !strings.Contains(err.Error(), "ephemeral port range holds 28232") {
		t.Errorf("past the ports of one source: %v", err)
	}
	if err := wide.Check(30000, true); err != nil {
		t.Errorf("30000 spread over sources: %v", err)
	}
	for level, want := range map[int]int{1: 1, 25408: 1, 25409: 2, 100000: 4} {
		if got := wide.SourcesFor(level); got != want {
			t.Errorf("SourcesFor(%d) = %d, want %d", level, got, want)
		}
	}
}

func TestParsePortRange(t *testing.T) {
	t.Parallel()
	if lo, hi, ok := parsePortRange("32768\t60999\n"); !ok || lo != 32768 || hi != 60999 {
		t.Errorf("%d %d %v", lo, hi, ok)
	}
	for _, bad := range []string{"", "1", "a b", "5 4", "0 10", "1 70000"} {
		if _, _, ok := parsePortRange(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParsePortRange(f *testing.F) {
	f.Add("32768 60999")
	f.Fuzz(func(t *testing.T, s string) {
		if lo, hi, ok := parsePortRange(s); ok && (lo < 1 || hi > 65535 || hi < lo) {
			t.Errorf("%q: %d..%d", s, lo, hi)
		}
	})
}

// RaiseFileLimit never lowers the limit, and gives what is asked within
// the hard limit (past it only with CAP_SYS_RESOURCE, which root here
// lacks: that part is not testable on this machine).
func TestRaiseFileLimit(t *testing.T) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	defer syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	low := syscall.Rlimit{Cur: lim.Max / 2, Max: lim.Max}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	if after := RaiseFileLimit(low.Cur / 2); after.Files != low.Cur {
		t.Errorf("asked for less: %d files, want %d kept", after.Files, low.Cur)
	}
	if after := RaiseFileLimit(low.Cur + 100); after.Files != low.Cur+100 || after.Hard != lim.Max {
		t.Errorf("asked for %d within the hard limit %d: %+v", low.Cur+100, lim.Max, after)
	}
	if after := RaiseFileLimit(lim.Max + 1000); after.Files < low.Cur+100 {
		t.Errorf("asked past the hard limit: lowered to %+v", after)
	}
}
