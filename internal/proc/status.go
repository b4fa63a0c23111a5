package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"unsafe"
)

// Status holds the memory lines of /proc/PID/status, in bytes.
type Status struct {
	RSS int64 // VmRSS: resident now
	HWM int64 // VmHWM: the kernel's peak resident set, never missed by sampling
}

// ReadStatus reads /proc/PID/status. gopsutil's MemoryInfo leaves HWM at
// zero on Linux, which is why this reads the file itself.
func ReadStatus(pid int) (Status, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Status{}, fmt.Errorf("read status of pid %d: %w", pid, err)
	}
	return parseStatus(b)
}

func parseStatus(b []byte) (Status, error) {
	var st Status
	var seen int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		var dst *int64
		switch string(key) {
		case "VmRSS":
			dst = &st.RSS
		case "VmHWM":
			dst = &st.HWM
		default:
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || string(f[1]) != "kB" {
			return Status{}, fmt.Errorf("status %s: unexpected value %q", key, val)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return Status{}, fmt.Errorf("status %s: bad size %q", key, f[0])
		}
		*dst = kb << 10
		seen++
	}
	if seen != 2 {
		// Kernel threads and zombies have no Vm lines.
		return Status{}, fmt.Errorf("status has no VmRSS/VmHWM (a zombie or kernel thread?)")
	}
	return st, sc.Err()
}

// ReadPSS is the proportional set size of pid in bytes (Pss in
// /proc/PID/smaps_rollup): its private pages plus its share of pages it
// shares with others, so the PSS of a process tree sums to its real
// memory, where summed RSS counts a shared page once per process.
func ReadPSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, fmt.Errorf("read smaps_rollup of pid %d: %w", pid, err)
	}
	return parsePSS(b)
}

func parsePSS(b []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok || string(key) != "Pss" {
			continue
		}
		f := bytes.Fields(val)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("smaps_rollup Pss: unexpected value %q", val)
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil || kb < 0 || kb > 1<<40 {
			return 0, fmt.Errorf("smaps_rollup Pss: bad size %q", f[0])
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("smaps_rollup has no Pss line")
}

// Reader reads processes' memory from /proc/PID/statm and status through
// files it keeps open: one pread a file a reading, where opening, reading
// and closing costs three syscalls more and os.ReadFile's buffer (what
// sampling a 100-process tree every 20 ms spent its CPU on: 46 µs a
// status read that way, 8.6 µs a pread here). A file kept open names its
// process, not its PID: once that process is gone its reads fail, even if
// the PID is reused. Not safe for concurrent use.
type Reader struct {
	fds map[int]*[2]int // statm, status; -1 until opened
	buf []byte
}

const (
	statm = iota
	status
)

var names = [2]string{"statm", "status"}

// RSS is pid's resident set in bytes now (statm).
func (r *Reader) RSS(pid int) (int64, error) {
	rss, _, err := r.Statm(pid)
	return rss, err
}

// Statm is pid's resident memory and the part of it backed by files or
// shared memory (RssFile + RssShmem: statm's third field), in bytes, from
// one read of the kept-open statm. Resident less shared is RssAnon.
func (r *Reader) Statm(pid int) (rss, shared int64, err error) {
	b, err := r.read(pid, statm)
	if err != nil {
		return 0, 0, err
	}
	pages, sharedPages, err := ParseStatmShared(b)
	if err != nil {
		return 0, 0, err
	}
	page := int64(os.Getpagesize())
	return pages * page, sharedPages * page, nil
}

// Status is pid's VmRSS and VmHWM now.
func (r *Reader) Status(pid int) (Status, error) {
	b, err := r.read(pid, status)
	if err != nil {
		return Status{}, err
	}
	return parseStatus(b)
}

// read is the whole of one of pid's files, in r.buf until the next read.
func (r *Reader) read(pid, which int) ([]byte, error) {
	fds := r.fds[pid]
	if fds == nil {
		fds = &[2]int{-1, -1}
	}
	if fds[which] < 0 {
		fd, err := syscall.Open(fmt.Sprintf("/proc/%d/%s", pid, names[which]), syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s of pid %d: %w", names[which], pid, err)
		}
		if r.fds == nil {
			r.fds = map[int]*[2]int{}
		}
		fds[which], r.fds[pid] = fd, fds
	}
	b, err := PreadAll(fds[which], &r.buf)
	if err != nil || len(b) == 0 {
		r.drop(pid)
		return nil, fmt.Errorf("read %s of pid %d: %w", names[which], pid, cmpErr(err))
	}
	return b, nil
}

// PreadAll is the whole of what fd's file holds now, read with Pread into
// *buf (made at 4 KiB, doubled up to 1 MiB while the file fills it); the
// bytes are *buf's until the next call.
func PreadAll(fd int, buf *[]byte) ([]byte, error) {
	if *buf == nil {
		*buf = make([]byte, 4096)
	}
	for {
		n, err := Pread(fd, *buf)
		switch {
		case err != nil:
			return nil, err
		case n == len(*buf) && n < 1<<20:
			*buf = make([]byte, 2*len(*buf)) // the file may be longer: read it whole
		default:
			return (*buf)[:n], nil
		}
	}
}

// Pread reads what a /proc or cgroup file holds now, from its start, as a
// raw syscall: one that never blocks (these files are made on the read, in
// microseconds) need not tell Go's scheduler, and a syscall that does wakes
// the runtime's monitor thread when it sleeps — a second thread's wake-up
// at every sample, what the sampler cost most on this project's VM (three
// context switches a 20 ms sample, one this way). Not for files whose read
// may take long: smaps_rollup walks page tables for up to 300 ms.
func Pread(fd int, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	n, _, errno := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)), 0, 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(n), nil
}

func cmpErr(err error) error {
	if err == nil {
		return io.EOF
	}
	return err
}

// Keep closes the files of every process not in pids (gone from the tree).
func (r *Reader) Keep(pids map[int]bool) {
	for pid := range r.fds {
		if !pids[pid] {
			r.drop(pid)
		}
	}
}

// Close closes every file.
func (r *Reader) Close() { r.Keep(nil) }

func (r *Reader) drop(pid int) {
	if fds, ok := r.fds[pid]; ok {
		for _, fd := range fds {
			if fd >= 0 {
				syscall.Close(fd)
			}
		}
		delete(r.fds, pid)
	}
}

// ParseStatm reads the resident pages, statm's second field.
func ParseStatm(b []byte) (int64, error) {
	f := bytes.Fields(b)
	if len(f) < 2 {
		return 0, fmt.Errorf("statm: want at least 2 fields, got %q", clipped(b))
	}
	n, err := strconv.ParseInt(string(f[1]), 10, 64)
	if err != nil || n < 0 || n > 1<<40 {
		return 0, fmt.Errorf("statm: bad resident pages %q", clipped(f[1]))
	}
	return n, nil
}

// ParseStatmShared reads the resident pages and the shared ones (file-
// backed and shared memory), statm's second and third fields.
func ParseStatmShared(b []byte) (resident, shared int64, err error) {
	if resident, err = ParseStatm(b); err != nil {
		return 0, 0, err
	}
	f := bytes.Fields(b)
	if len(f) < 3 {
		return 0, 0, fmt.Errorf("statm: want at least 3 fields, got %q", clipped(b))
	}
	shared, err = strconv.ParseInt(string(f[2]), 10, 64)
	if err != nil || shared < 0 || shared > resident {
		return 0, 0, fmt.Errorf("statm: bad shared pages %q", clipped(f[2]))
	}
	return resident, shared, nil
}

func clipped(b []byte) []byte { return b[:min(len(b), 64)] }
