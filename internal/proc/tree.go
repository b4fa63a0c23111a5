package proc

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// Stat is what the harness reads of /proc/PID/stat: the process's state
// (R, S, Z, …), its parent and its process group.
type Stat struct {
	State byte
	PPID  int
	PGID  int
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, err
	}
	return parseStat(b)
}

// parseStat reads "pid (comm) state ppid pgrp …"; comm may hold spaces
// and parentheses, so the fields count from its last ')'.
func parseStat(b []byte) (Stat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("stat: no ')' in %.40q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("stat: %.40q has no state, ppid and pgrp", b[i+1:])
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgid, err2 := strconv.Atoi(f[2])
	if err1 != nil || err2 != nil {
		return Stat{}, fmt.Errorf("stat: ppid %q, pgrp %q", f[1], f[2])
	}
	return Stat{State: f[0][0], PPID: ppid, PGID: pgid}, nil
}

// Zombie reports whether pid is gone or a zombie (exited, not reaped).
func Zombie(pid int) bool {
	st, err := ReadStat(pid)
	return err != nil || st.State == 'Z'
}

// PIDs lists every process on the system now.
func PIDs() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Group lists the processes in process group pgid now.
func Group(pgid int) []int {
	var out []int
	for _, pid := range PIDs() {
		if st, err := ReadStat(pid); err == nil && st.PGID == pgid {
			out = append(out, pid)
		}
	}
	return out
}

// Descendants lists pid's children, their children and so on, from the
// kernel's lists of children of every thread (a child is listed under the
// thread that forked it, not only under the main one). It reads with bare
// syscalls into two buffers it keeps: the sampler looks for a 100-process
// tree's new children every 2 s, and os.ReadDir and os.ReadFile for each
// process cost it 24 µs a process.
func Descendants(pid int) []int {
	var w walker
	var out []int
	for i, next := 0, []int{pid}; i < len(next); i++ {
		for _, c := range w.children(next[i]) {
			out, next = append(out, c), append(next, c)
		}
	}
	return out
}

type walker struct {
	dir, file []byte
	tids      []string
	kids      []int
}

// children lists pid's children now, in a slice reused by the next call.
func (w *walker) children(pid int) []int {
	if w.dir == nil {
		w.dir, w.file = make([]byte, 4096), make([]byte, 4096)
	}
	w.tids, w.kids = w.tids[:0], w.kids[:0]
	fd, err := syscall.Open(fmt.Sprintf("/proc/%d/task", pid), syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	for {
		n, err := syscall.ReadDirent(fd, w.dir)
		if err != nil || n <= 0 {
			break
		}
		_, _, w.tids = syscall.ParseDirent(w.dir[:n], -1, w.tids)
	}
	syscall.Close(fd)
	for _, tid := range w.tids {
		fd, err := syscall.Open(fmt.Sprintf("/proc/%d/task/%s/children", pid, tid), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		b := w.file[:0]
		for {
			if len(b) == cap(b) {
				b = append(b, 0)[:len(b)] // a long list: room for more
			}
			n, err := syscall.Read(fd, b[len(b):cap(b)])
			if err != nil || n <= 0 {
				break
			}
			b = b[:len(b)+n]
		}
		syscall.Close(fd)
		w.file = b[:0]
		for len(b) > 0 {
			var f []byte
			f, b, _ = bytes.Cut(b, []byte(" "))
			if c, err := strconv.Atoi(string(bytes.TrimSpace(f))); err == nil && !slices.Contains(w.kids, c) {
				w.kids = append(w.kids, c)
			}
		}
	}
	return w.kids
}

// Children lists pid's children now.
func Children(pid int) []int {
	var w walker
	return w.children(pid)
}

// ResetHWM restarts pid's VmHWM (writing 5 to /proc/PID/clear_refs, Linux
// ≥ 4.0), so the next reading is the peak of what follows.
func ResetHWM(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
