package proc

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
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
// thread that forked it, not only under the main one).
func Descendants(pid int) []int {
	var out []int
	for i, next := 0, []int{pid}; i < len(next); i++ {
		for _, c := range Children(next[i]) {
			out, next = append(out, c), append(next, c)
		}
	}
	return out
}

// Children lists pid's children now.
func Children(pid int) []int {
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, t.Name()))
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if c, err := strconv.Atoi(f); err == nil && !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out
}

// ResetHWM restarts pid's VmHWM (writing 5 to /proc/PID/clear_refs, Linux
// ≥ 4.0), so the next reading is the peak of what follows.
func ResetHWM(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
