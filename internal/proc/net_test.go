package proc

import (
	"net"
	"os"
	"slices"
	"syscall"
	"testing"
)

const tcpTable = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000     0        0 4343 1 0000000000000000 20 4 30 10 -1
   2: 00000000:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 99 1 0000000000000000 100 0 0 10 0
`

func TestParseListeners(t *testing.T) {
	t.Parallel()
	if got := parseListeners([]byte(tcpTable), 8080); !slices.Equal(got, []uint64{4242}) {
		t.Errorf("port 8080: %v, want [4242] (the established socket is not a listener)", got)
	}
	if got := parseListeners([]byte(tcpTable), 80); !slices.Equal(got, []uint64{99}) {
		t.Errorf("port 80: %v, want [99]", got)
	}
	if got := parseListeners([]byte(tcpTable), 9); got != nil {
		t.Errorf("port 9: %v, want none", got)
	}
}

// This process's own listener is found, and it holds the socket.
func TestListenersAndSockets(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	inodes, err := Listeners(os.Getpid(), port)
	if err != nil || len(inodes) != 1 {
		t.Fatalf("Listeners = %v, %v", inodes, err)
	}
	held, err := Sockets(os.Getpid())
	if err != nil || !held[inodes[0]] {
		t.Errorf("Sockets does not hold the listener %d: %v", inodes[0], err)
	}
	if g := Group(syscall.Getpgrp()); !slices.Contains(g, os.Getpid()) {
		t.Errorf("Group(own process group) = %v, want it to hold %d", g, os.Getpid())
	}
}

// /proc/net/tcp is read when a target starts: garbage is skipped, never a
// panic.
func FuzzParseListeners(f *testing.F) {
	f.Add([]byte(tcpTable), 8080)
	f.Add([]byte("x\n 0: :1F90 0 0A 0 0 0 0 0 -5\n"), 8080)
	f.Fuzz(func(t *testing.T, b []byte, port int) {
		for _, inode := range parseListeners(b, port) {
			if inode == 0 {
				t.Fatalf("parseListeners(%q) gave inode 0", b)
			}
		}
	})
}
