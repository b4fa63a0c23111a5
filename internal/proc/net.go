package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Listeners returns the inodes of the TCP sockets listening on port (IPv4
// and IPv6), as the network namespace of pid sees them
// (/proc/PID/net/tcp and tcp6).
func Listeners(pid, port int) ([]uint64, error) {
	var out []uint64
	var firstErr error
	for _, f := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			firstErr = err
			continue
		}
		out = append(out, parseListeners(b, port)...)
	}
	if out == nil && firstErr != nil {
		return nil, fmt.Errorf("read listening sockets: %w", firstErr)
	}
	return out, nil
}

// tcpListen is the state column's value for a listening socket.
const tcpListen = "0A"

// parseListeners reads a /proc/net/tcp table: a header line, then one
// socket per line, "sl local_address rem_address st … uid timeout inode".
func parseListeners(b []byte, port int) []uint64 {
	var out []uint64
	sc := bufio.NewScanner(bytes.NewReader(b))
	for first := true; sc.Scan(); first = false {
		f := strings.Fields(sc.Text())
		if first || len(f) < 10 || f[3] != tcpListen {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if !ok {
			continue
		}
		p, err := strconv.ParseUint(hexPort, 16, 16)
		if err != nil || int(p) != port {
			continue
		}
		if inode, err := strconv.ParseUint(f[9], 10, 64); err == nil && inode > 0 {
			out = append(out, inode)
		}
	}
	return out
}

// Sockets returns the inodes of the sockets pid holds open.
func Sockets(pid int) (map[uint64]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	out := map[uint64]bool{}
	for _, e := range entries {
		link, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !strings.HasPrefix(link, "socket:[") {
			continue
		}
		if inode, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]"), 10, 64); err == nil {
			out[inode] = true
		}
	}
	return out, nil
}

// ListenerPID is the process holding a socket listening on port, in this
// process's network namespace: the lowest such PID (a pre-fork server's
// parent before its workers), or an error naming what was looked at. A
// process that vanishes mid-scan is skipped, not an error.
func ListenerPID(port int) (int, error) {
	inodes, err := Listeners(os.Getpid(), port)
	if err != nil {
		return 0, err
	}
	if len(inodes) == 0 {
		return 0, fmt.Errorf("no socket listens on port %d", port)
	}
	for _, pid := range PIDs() {
		held, err := Sockets(pid)
		if err != nil {
			continue
		}
		for _, in := range inodes {
			if held[in] {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("port %d is listened on, but by no process this user can see", port)
}
