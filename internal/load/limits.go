package load

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/floodharness/harness/internal/proc"
)

// Host is what bounds one client process's connections to one target
// address on this host: open files (one per connection) and the ephemeral
// ports one source address can use.
type Host struct {
	// Files is this process's RLIMIT_NOFILE soft limit (after
	// RaiseFileLimit); Hard its hard limit.
	Files, Hard uint64
	// Ports is the size of the ephemeral port range
	// (net.ipv4.ip_local_port_range): connections from one source address
	// to one destination address and port.
	Ports int
}

// Reserve is the files a flood needs besides its connections: the
// harness's own (logs, series, /proc reads, its listeners) with room.
const Reserve = 64

// RaiseFileLimit makes room for need open files where this process may:
// the soft RLIMIT_NOFILE up to the hard one (Go starts there already) and,
// as root, the hard one up to fs.nr_open — only as far as need asks, so
// targets (which inherit it) do not get a million-file limit they never
// use. It returns the host's limits after.
func RaiseFileLimit(need uint64) Host {
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil && need > lim.Cur {
		want := syscall.Rlimit{Cur: min(need, lim.Max), Max: lim.Max}
		if need > lim.Max && os.Geteuid() == 0 {
			if n, err := proc.SysctlUint("fs.nr_open"); err == nil {
				want.Cur = min(need, n)
				want.Max = want.Cur
			}
		}
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want)
	}
	return ReadHost()
}

// ReadHost reads the limits as they are now.
func ReadHost() Host {
	var h Host
	var lim syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim) == nil {
		h.Files, h.Hard = lim.Cur, lim.Max
	}
	h.Ports = 28232 // Linux's default range, 32768–60999
	if f, err := proc.Sysctl("net.ipv4.ip_local_port_range"); err == nil {
		if lo, hi, ok := parsePortRange(strings.Join(f, " ")); ok {
			h.Ports = hi - lo + 1
		}
	}
	return h
}

// parsePortRange reads "32768\t60999\n".
func parsePortRange(s string) (lo, hi int, ok bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return 0, 0, false
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo {
		return 0, 0, false
	}
	return lo, hi, true
}

// Largest is the most concurrent clients one flood can hold here against
// an IPv4 loopback target (connections spread over source addresses).
func (h Host) Largest() int {
	n := h.Ports * MaxSources
	if h.Files > 0 {
		n = min(n, int(min(h.Files, 1<<30))-Reserve)
	}
	return max(n, 0)
}

// SourcesFor is how many source addresses a level needs so that each
// keeps a tenth of its ephemeral ports free: 1 up to ~25,000 clients on a
// default port range.
func (h Host) SourcesFor(level int) int {
	per := max(h.Ports*9/10, 1)
	return min((level+per-1)/per, MaxSources)
}

// Check refuses a level that cannot fit, with the number it needs and
// what bounds it. spread says the target is on IPv4 loopback, where
// connections can come from many source addresses (SourcesFor).
func (h Host) Check(level int, spread bool) error {
	if spread {
		h.Ports *= MaxSources
	}
	switch {
	case h.Files > 0 && uint64(level+Reserve) > h.Files:
		how := "raise it with ulimit -n, or run with CAP_SYS_RESOURCE (root, usually: the harness then raises it up to fs.nr_open)"
		if h.Hard > h.Files {
			how = "the harness could not raise it to the hard limit"
		}
		return fmt.Errorf("level %d needs %d open files (a connection each, and %d for the harness); this process may open %d (RLIMIT_NOFILE): %s", level, level+Reserve, Reserve, h.Files, how)
	case level > h.Ports:
		return fmt.Errorf("level %d needs %d connections from one source address to one target address, and the ephemeral port range holds %d (net.ipv4.ip_local_port_range)", level, level, h.Ports)
	}
	return nil
}
