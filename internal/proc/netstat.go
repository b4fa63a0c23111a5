package proc

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// Listen is the kernel's count of connections a listening socket's full
// accept queue turned away (TcpExt ListenOverflows; ListenDrops adds the
// SYNs dropped for any reason), in this network namespace since boot.
type Listen struct {
	Overflows, Drops int64
	// MemoryPressures counts the times TCP entered memory pressure
	// (TcpExt TCPMemoryPressures: the sockets' buffers past
	// net.ipv4.tcp_mem's middle figure, when the kernel starts dropping
	// packets) and SynRetrans the SYNs sent again (TCPSynRetrans: a dial
	// whose SYN or SYN-ACK was lost); 0 where the kernel keeps neither.
	MemoryPressures, SynRetrans int64
}

// Sub is what the counters rose by since before.
func (l Listen) Sub(before Listen) Listen {
	return Listen{Overflows: l.Overflows - before.Overflows, Drops: l.Drops - before.Drops,
		MemoryPressures: l.MemoryPressures - before.MemoryPressures, SynRetrans: l.SynRetrans - before.SynRetrans}
}

// ReadListen reads the counters from /proc/net/netstat.
func ReadListen() (Listen, error) {
	b, err := os.ReadFile("/proc/net/netstat")
	if err != nil {
		return Listen{}, err
	}
	return parseListen(b)
}

// parseListen finds ListenOverflows and ListenDrops in netstat's TcpExt
// header line and the value line after it.
func parseListen(b []byte) (Listen, error) {
	lines := strings.Split(string(b), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) || values[0] != "TcpExt:" {
			continue
		}
		var l Listen
		found := 0
		for j, n := range names {
			var dst *int64
			switch n {
			case "ListenOverflows":
				dst = &l.Overflows
			case "ListenDrops":
				dst = &l.Drops
			case "TCPMemoryPressures":
				dst = &l.MemoryPressures
			case "TCPSynRetrans":
				dst = &l.SynRetrans
			default:
				continue
			}
			v, err := strconv.ParseInt(values[j], 10, 64)
			if err != nil || v < 0 {
				return Listen{}, errors.New("netstat: bad " + n + " value " + strconv.Quote(values[j]))
			}
			*dst = v
			if dst == &l.Overflows || dst == &l.Drops {
				found++
			}
		}
		if found == 2 {
			return l, nil
		}
	}
	return Listen{}, errors.New("netstat: no TcpExt ListenOverflows and ListenDrops")
}

// Somaxconn is the host's cap on a listening socket's accept queue.
func Somaxconn() int {
	n, _ := SysctlUint("net.core.somaxconn")
	return int(n)
}
