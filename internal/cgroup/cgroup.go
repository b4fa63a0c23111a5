package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/proc"
	"github.com/floodharness/harness/internal/sample"
)

// Group is a memory cgroup this package created for one target, v1 or v2,
// or a systemd scope it asked for.
type Group struct {
	Dir string // "" for a scope until Attach
	V2  bool
	// Scope is the systemd scope unit the target runs in (without
	// ".scope"), when systemd made the cgroup; "" when this package did.
	Scope string
	root  string // the cgroup v2 mount, where a scope's path is found
	limit int64
	// hroot is the mount of the hierarchy Dir is in (/sys/fs/cgroup, or
	// /sys/fs/cgroup/memory on v1): Path is Dir below it.
	hroot string
	// external: not made by this package (an attached server's): never
	// removed, nothing in it killed.
	external bool
	// peakFile is memory.peak opened and reset (v2, Linux 6.12+): the
	// peak since the reset is read from this file, not a fresh open.
	peakFile *os.File
	// files are what the sampler reads at every sample, kept open.
	files keptFiles
	// subs are the cgroups below this one (a container engine's) as last
	// listed, and when.
	subs   []string
	subsAt time.Time
}

// keptFiles reads cgroup files through descriptors kept open: a pread
// each, where os.ReadFile opens, stats, reads twice and closes (the
// charge, its anonymous part and the OOM count at every 20 ms sample cost
// the harness 4.6% of a core that way with its members listed too, on
// this project's VM). Safe for concurrent use.
type keptFiles struct {
	mu   sync.Mutex
	open map[string]int
	buf  []byte
}

// read is the whole file at path now; the bytes are the caller's.
func (k *keptFiles) read(path string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	fd, ok := k.open[path]
	if !ok {
		var err error
		if fd, err = syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0); err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		if k.open == nil {
			k.open = map[string]int{}
		}
		k.open[path] = fd
	}
	b, err := proc.PreadAll(fd, &k.buf)
	if err != nil {
		syscall.Close(fd)
		delete(k.open, path) // gone (a removed cgroup): open again next time
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return bytes.Clone(b), nil
}

// close closes every file kept open.
func (k *keptFiles) close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	for path, fd := range k.open {
		syscall.Close(fd)
		delete(k.open, path)
	}
}

// SetPeakFile makes Peak read from f (closing the one before); nil: from
// memory.peak again.
func (c *Group) SetPeakFile(f *os.File) {
	if c.peakFile != nil {
		c.peakFile.Close()
	}
	c.peakFile = f
}

// Path is the cgroup's path in its hierarchy ("/flood-harness-…"), as a
// container engine's --cgroup-parent takes it.
func (c *Group) Path() string {
	rel, err := filepath.Rel(c.hroot, c.Dir)
	if err != nil || c.hroot == "" {
		return ""
	}
	return "/" + rel
}

// FS says where cgroups are mounted; tests point it at a fake tree.
type FS struct {
	Root     string // usually /sys/fs/cgroup
	SelfFile string // usually /proc/self/cgroup
	// PID is the process whose cgroup is "ours" (default: this one); on
	// cgroup v2 it may be moved into a leaf of that cgroup.
	PID int
}

// System is the real cgroup filesystem.
func System() FS {
	return FS{Root: "/sys/fs/cgroup", SelfFile: "/proc/self/cgroup"}
}

// Version reports "v2", "v1" or "none": which memory controller a cap
// would use.
func (fs FS) Version() string {
	if _, v2, err := fs.own(); err == nil {
		if v2 {
			return "v2"
		}
		return "v1"
	}
	return "none"
}

// own finds the memory cgroup this process is in, and whether it is v2.
func (fs FS) own() (string, bool, error) {
	self, err := proc.ReadCgroups(fs.SelfFile)
	if err != nil {
		return "", false, fmt.Errorf("cannot tell which cgroup the harness is in: %w", err)
	}
	v1Path, found1, v2Path, found2 := self.V1Memory, self.HasV1Memory, self.V2, self.HasV2
	if found1 {
		dir := filepath.Join(fs.Root, "memory", v1Path)
		if _, err := os.Stat(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
			return dir, false, nil
		}
	}
	if found2 {
		ctl, err := os.ReadFile(filepath.Join(fs.Root, "cgroup.controllers"))
		if err == nil && slices.Contains(strings.Fields(string(ctl)), "memory") {
			return filepath.Join(fs.Root, v2Path), true, nil
		}
	}
	return "", false, errors.New("no memory cgroup controller is mounted (neither a v1 memory hierarchy nor cgroup v2 with memory)")
}

func (fs FS) pid() int {
	if fs.PID > 0 {
		return fs.PID
	}
	return os.Getpid()
}

// Maker is where one harness makes its targets' cgroups, found (and, on
// cgroup v2, set up) once by Prepare and undone by Close.
type Maker struct {
	fs   FS
	v2   bool
	base string // target cgroups are made here; "" when none can be
	mode string
	note string
	// removed lists stale cgroups a harness that died left behind, removed
	// (their processes killed) by Prepare.
	removed []string

	undo  []func() error // run in reverse by Close
	seq   atomic.Int64   // numbers target cgroups: names never repeat
	scope bool           // targets run in systemd scopes (systemd-run --user --scope)
}

// Mode says how target cgroups are made, in words: "v1", "v2 in the root
// cgroup", "v2 in a leaf of the harness's cgroup", "v2 beside the
// harness's cgroup", "v2 under the root cgroup"; "" when none can be.
func (c *Maker) Mode() string {
	if !c.Available() {
		return ""
	}
	return c.mode
}

// Why says why no cgroup can be made, with the error that stopped each
// way tried; "" when they can.
func (c *Maker) Why() string {
	switch {
	case c == nil:
		return "no cgroups were prepared"
	case c.Available():
		return ""
	}
	return c.note
}

// Stale lists the cgroups that harnesses which died left behind, removed
// (their processes killed) by Prepare.
func (c *Maker) Stale() []string {
	if c == nil {
		return nil
	}
	return c.removed
}

// Available reports whether target cgroups can be made.
func (c *Maker) Available() bool { return c != nil && (c.base != "" || c.scope) }

// Scoped reports whether target cgroups are systemd scopes.
func (c *Maker) Scoped() bool { return c != nil && c.scope }

// V2 reports whether the cgroups are v2.
func (c *Maker) V2() bool { return c != nil && c.v2 }

// Version is "v1", "v2" or "none": what caps here use.
func (c *Maker) Version() string {
	switch {
	case !c.Available():
		return "none"
	case c.v2:
		return "v2"
	}
	return "v1"
}

// Prefix names every cgroup (and container) a harness makes, followed by
// its pid, so a later harness can tell what a dead one left behind.
const Prefix = "flood-harness-"

var ownerName = regexp.MustCompile(`^` + Prefix + `(\d+)(-|$)`)

// LeftBy reads the harness that made name (a cgroup's, a container's, a
// directory's): its pid, 0 when name is no harness's, and whether that
// harness is gone (another process than this one, not running).
func LeftBy(name string) (owner int, gone bool) {
	m := ownerName.FindStringSubmatch(name)
	if m == nil {
		return 0, false
	}
	owner, _ = strconv.Atoi(m[1])
	return owner, owner != os.Getpid() && !alive(owner)
}

// Prepare finds where target cgroups can be made. On cgroup v1 that is the
// harness's own memory cgroup. On v2 the harness's cgroup holds processes,
// and a cgroup with processes cannot hand the memory controller to
// children (v2's no-internal-processes rule), so it tries in order: the
// root cgroup if the harness is there; a leaf of its own cgroup that it
// moves itself into (when it is alone there, as container runtimes do); a
// cgroup of its own beside its cgroup; one under the root. It first
// removes what harnesses that died left behind. It never returns nil.
func (fs FS) Prepare() *Maker {
	c := &Maker{fs: fs}
	own, v2, err := fs.own()
	if err != nil {
		c.note = err.Error()
		return c
	}
	c.v2 = v2
	if !v2 {
		c.removed = removeStale(own, fs.pid())
		memRoot := filepath.Join(filepath.Clean(fs.Root), "memory")
		for _, d := range v1Siblings(memRoot, own) { // left by container targets
			c.removed = append(c.removed, removeStale(d, fs.pid())...)
		}
		// Readable is not writable: an unprivileged user sees its v1
		// memory cgroup and can make nothing in it. Say so now, once,
		// rather than fail every target's cgroup later.
		if err := probeMkdir(own, fs.pid()); err != nil {
			c.note = fmt.Sprintf("cgroup v1: cannot make a cgroup in %s (%v); run as root, or where the memory cgroup is delegated to this user", own, err)
			return c
		}
		c.base, c.mode = own, "v1"
		return c
	}
	root := filepath.Clean(fs.Root)
	parent := filepath.Dir(own)
	for _, d := range []string{own, parent, root} {
		c.removed = append(c.removed, removeStale(d, fs.pid())...)
	}
	var why []string
	try := func(mode string, f func() error) bool {
		if err := f(); err != nil {
			why = append(why, fmt.Sprintf("%s: %v", mode, err))
			return false
		}
		c.mode = mode
		return true
	}
	switch {
	case own == root && try("v2 in the root cgroup", func() error { return c.enableMemory(root) }):
		c.base = root
	case own != root && try("v2 in a leaf of the harness's cgroup", func() error { return c.leaf(own) }):
		c.base = own
	case own != root && parent != root && try("v2 beside the harness's cgroup", func() error { return c.subtree(parent) }):
	case own != root && try("v2 under the root cgroup", func() error { return c.subtree(root) }):
	case os.Geteuid() != 0 && try("a systemd scope per target", scopeProbe):
		c.scope = true
	default:
		c.note = "cgroup v2: no cgroup with the memory controller can be made here: " + strings.Join(why, "; ")
		_ = c.Close()
	}
	return c
}

// probeMkdir makes and removes a cgroup under dir: whether targets' can
// be made there.
func probeMkdir(dir string, pid int) error {
	probe := filepath.Join(dir, fmt.Sprintf("%s%d-probe", Prefix, pid))
	if err := os.Mkdir(probe, 0o755); err != nil {
		return unwrapPath(err)
	}
	return removeDir(probe)
}

// leaf moves the harness into a new leaf of its own cgroup dir, which then
// holds no process and can give children the memory controller. Only when
// the harness is alone there: other processes are not ours to move.
func (c *Maker) leaf(dir string) error {
	procs, err := readPIDs(filepath.Join(dir, "cgroup.procs"))
	if err != nil {
		return err
	}
	if len(procs) != 1 || procs[0] != c.fs.pid() {
		return fmt.Errorf("%s holds %d other process(es), which are not ours to move", dir, len(procs)-1)
	}
	if !hasController(dir, "memory") {
		return fmt.Errorf("%s has no memory controller (its parent does not hand it down)", dir)
	}
	leaf := filepath.Join(dir, fmt.Sprintf("%s%d-self", Prefix, c.fs.pid()))
	if err := os.Mkdir(leaf, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", leaf, err)
	}
	pid := []byte(strconv.Itoa(c.fs.pid()))
	if err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), pid, 0); err != nil {
		_ = os.Remove(leaf)
		return fmt.Errorf("move the harness into %s: %w", leaf, err)
	}
	// Undone in reverse: memory off again, the harness back, the leaf gone.
	c.undo = append(c.undo, func() error {
		return errors.Join(
			os.WriteFile(filepath.Join(dir, "cgroup.procs"), pid, 0),
			os.Remove(leaf))
	})
	if err := c.enableMemory(dir); err != nil {
		_ = c.Close()
		return err
	}
	return nil
}

// subtree makes a cgroup of this harness's own under dir, with the memory
// controller handed to its children.
func (c *Maker) subtree(dir string) error {
	if err := c.enableMemory(dir); err != nil {
		return err
	}
	base := filepath.Join(dir, fmt.Sprintf("%s%d", Prefix, c.fs.pid()))
	if err := os.Mkdir(base, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", base, err)
	}
	c.undo = append(c.undo, func() error { return removeDir(base) })
	// Its own, so removing it undoes this too.
	if err := os.WriteFile(filepath.Join(base, "cgroup.subtree_control"), []byte("+memory"), 0); err != nil {
		_ = c.Close()
		return fmt.Errorf("cannot enable memory in %s: %w", base, unwrapPath(err))
	}
	c.base = base
	return nil
}

// enableMemory makes sure dir hands the memory controller to its
// children, and notes how to undo it if this call turned it on.
func (c *Maker) enableMemory(dir string) error {
	ctl := filepath.Join(dir, "cgroup.subtree_control")
	if b, err := os.ReadFile(ctl); err == nil && slices.Contains(strings.Fields(string(b)), "memory") {
		return nil
	}
	if err := os.WriteFile(ctl, []byte("+memory"), 0); err != nil {
		return fmt.Errorf("cannot enable memory in %s: %w", ctl, unwrapPath(err))
	}
	c.undo = append(c.undo, func() error { return os.WriteFile(ctl, []byte("-memory"), 0) })
	return nil
}

// Close undoes what Prepare set up (the leaf move, controllers it turned
// on, its own cgroups). Target cgroups are removed by their processes'
// Stop. Safe to call more than once.
func (c *Maker) Close() error {
	if c == nil {
		return nil
	}
	var errs []error
	for i := len(c.undo) - 1; i >= 0; i-- {
		errs = append(errs, c.undo[i]())
	}
	c.undo, c.base = nil, ""
	return errors.Join(errs...)
}

// New creates a memory cgroup for one target, capped at limit bytes (0:
// no cap), with swap capped too so the cap means what it says, and on v2
// with memory.oom.group set: an OOM kill takes the whole target tree, as
// Kubernetes does on v2.
func (c *Maker) New(name string, limit int64) (*Group, error) {
	if !c.Available() {
		return nil, errors.New(c.Why())
	}
	if c.scope {
		unit := fmt.Sprintf("%s%d-%d-%s", Prefix, c.fs.pid(), c.seq.Add(1), name)
		return &Group{V2: true, Scope: unit, root: filepath.Clean(c.fs.Root), limit: limit}, nil
	}
	cg := &Group{Dir: filepath.Join(c.base, fmt.Sprintf("%s%d-%d-%s", Prefix, c.fs.pid(), c.seq.Add(1), name)), V2: c.v2}
	cg.hroot = filepath.Clean(c.fs.Root)
	if !c.v2 {
		cg.hroot = filepath.Join(cg.hroot, "memory")
	}
	if err := os.Mkdir(cg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	set := func(file, v string) error { return os.WriteFile(filepath.Join(cg.Dir, file), []byte(v), 0) }
	limitStr := "max"
	if limit > 0 {
		limitStr = strconv.FormatInt(limit, 10)
	}
	var err error
	if c.v2 {
		err = set("memory.max", limitStr)
		if err == nil {
			err = set("memory.oom.group", "1")
		}
		// Absent without swap accounting (no swap to cap then).
		if serr := set("memory.swap.max", "0"); serr != nil && !errors.Is(serr, os.ErrNotExist) && err == nil {
			err = serr
		}
	} else if limit > 0 {
		err = set("memory.limit_in_bytes", limitStr)
		if err == nil {
			_ = set("memory.memsw.limit_in_bytes", limitStr) // absent without swap accounting
		}
	}
	if err != nil {
		_ = os.Remove(cg.Dir)
		return nil, fmt.Errorf("set cgroup limit: %w", err)
	}
	return cg, nil
}

// Wrap is the command that runs argv inside the cgroup: joined before the
// program execs, so not one byte it allocates is charged elsewhere.
func (c *Group) Wrap(argv []string) []string {
	if c.Scope != "" {
		return scopeArgs(c.Scope, c.limit, argv)
	}
	return append([]string{"/bin/sh", "-c", `echo $$ > "$0" && exec "$@"`, c.ProcsFile()}, argv...)
}

// Attach finds the cgroup of a started target: a systemd scope's is known
// only once systemd has made it (done is closed if the process exits).
func (c *Group) Attach(pid int, done <-chan struct{}) error {
	if c.Scope == "" {
		return nil
	}
	dir, err := attachScope(c.root, pid, c.Scope, done)
	c.Dir = dir
	return err
}

// PIDs lists the processes in the cgroup and the cgroups below it now (a
// container engine makes the container's own cgroup below the target's).
func (c *Group) PIDs() ([]int, error) {
	// Opened afresh each time: on v1 a cgroup.procs kept open goes on
	// answering the list it made first while it is read more often than
	// once a second (the kernel keeps a pidlist for a reader that
	// returns).
	pids, err := readPIDs(c.ProcsFile())
	if err != nil {
		return nil, err
	}
	for _, dir := range c.below() {
		sub, _ := readPIDs(filepath.Join(dir, "cgroup.procs"))
		pids = append(pids, sub...)
	}
	return pids, nil
}

// below lists the cgroups under this one at any depth, as listed within
// the last second: the sampler asks at every sample, and a container
// engine makes its cgroups once, at the start.
func (c *Group) below() []string {
	c.files.mu.Lock()
	defer c.files.mu.Unlock()
	if time.Since(c.subsAt) < time.Second {
		return c.subs
	}
	var subs []string
	for i, next := 0, []string{c.Dir}; i < len(next); i++ {
		entries, _ := os.ReadDir(next[i])
		for _, e := range entries {
			if e.IsDir() {
				dir := filepath.Join(next[i], e.Name())
				subs, next = append(subs, dir), append(next, dir)
			}
		}
	}
	c.subs, c.subsAt = subs, time.Now()
	return subs
}

// ProcsFile is where a process writes its PID to join the cgroup.
func (c *Group) ProcsFile() string { return filepath.Join(c.Dir, "cgroup.procs") }

func (c *Group) readInt(name string) (int64, error) {
	b, err := c.files.read(filepath.Join(c.Dir, name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// Usage is the cgroup's memory charge now (includes page cache).
func (c *Group) Usage() (int64, error) {
	if c.V2 {
		return c.readInt("memory.current")
	}
	return c.readInt("memory.usage_in_bytes")
}

// Peak is the kernel's peak charge of the cgroup (includes page cache).
// On v2 it needs Linux 5.19+ (memory.peak); older kernels return an error
// and only the sampled charge is left.
func (c *Group) Peak() (int64, error) {
	if c.peakFile != nil {
		b := make([]byte, 32)
		n, err := c.peakFile.ReadAt(b, 0)
		if n == 0 && err != nil {
			return 0, err
		}
		return strconv.ParseInt(strings.TrimSpace(string(b[:n])), 10, 64)
	}
	if c.V2 {
		return c.readInt("memory.peak")
	}
	return c.readInt("memory.max_usage_in_bytes")
}

// OOMKills is how many processes the kernel OOM-killed in the cgroup and
// below it. v2 counts the whole subtree in memory.events; v1 counts each
// cgroup in its own memory.oom_control, summed here over the cgroups that
// still exist (a container's own cgroup goes with the container).
func (c *Group) OOMKills() (int64, error) {
	if c.V2 {
		return c.field("memory.events", "oom_kill")
	}
	n, err := c.field("memory.oom_control", "oom_kill")
	if err != nil {
		return 0, err
	}
	for _, dir := range c.below() {
		if sub, err := c.fieldAt(filepath.Join(dir, "memory.oom_control"), "oom_kill"); err == nil {
			n += sub
		}
	}
	return n, nil
}

// OOMKillsMayVanish reports whether part of OOMKills is counted in
// cgroups below that their engine may remove (v1 counts each cgroup's
// kills in its own file; v2's memory.events counts its subtree's, which
// stay counted here when a cgroup below goes).
func (c *Group) OOMKillsMayVanish() bool { return !c.V2 && len(c.below()) > 0 }

var _ sample.OOMCounter = (*Group)(nil) // the sampler reads its kills as it goes

// Anon is the anonymous (non-cache) memory charged now, the cgroups below
// included: what RSS means.
func (c *Group) Anon() (int64, error) {
	if c.V2 {
		return c.field("memory.stat", "anon")
	}
	return c.field("memory.stat", "total_rss")
}

// field is key's value in one of the cgroup's files.
func (c *Group) field(file, key string) (int64, error) {
	return c.fieldAt(filepath.Join(c.Dir, file), key)
}

// fieldAt is key's value in the file at path (the cgroup's, or one below).
func (c *Group) fieldAt(path, key string) (int64, error) {
	b, err := c.files.read(path)
	if err != nil {
		return 0, err
	}
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte("\n"))
		if k, v, ok := bytes.Cut(line, []byte(" ")); ok && string(k) == key {
			return strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %s", filepath.Base(path), key)
}

// Remove kills whatever is still in the cgroup (only processes this package
// put there) and removes it, retrying while the kernel lets go. A scope is
// systemd's to remove once it is empty (--collect).
func (c *Group) Remove() error {
	c.files.close()
	switch {
	case c.Dir == "" || c.external:
		return nil
	case c.Scope != "":
		pids, _ := readPIDs(c.ProcsFile())
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return nil
	}
	err := removeDir(c.Dir)
	if !c.V2 && c.hroot != "" {
		// A container engine makes the target's path in every v1
		// hierarchy (cpu, pids, …) for the container below it.
		for _, dir := range v1Siblings(c.hroot, c.Dir) {
			err = errors.Join(err, removeDir(dir))
		}
	}
	return err
}

// v1Siblings are the directories at dir's path in the other v1
// hierarchies mounted beside memRoot (the memory hierarchy), where they
// exist.
func v1Siblings(memRoot, dir string) []string {
	rel, err := filepath.Rel(memRoot, dir)
	if err != nil || strings.HasPrefix(rel, "..") {
		return nil
	}
	mounts, _ := os.ReadDir(filepath.Dir(memRoot))
	var out []string
	for _, m := range mounts {
		d := filepath.Join(filepath.Dir(memRoot), m.Name(), rel)
		if m.Name() == filepath.Base(memRoot) || !m.IsDir() {
			continue
		}
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	return out
}

// removeDir kills every process in the cgroup dir and its children
// (cgroup.kill where the kernel has it, else SIGKILL to each listed PID)
// and removes them, deepest first.
func removeDir(dir string) error {
	entries, _ := os.ReadDir(dir)
	var errs []error
	for _, e := range entries {
		if e.IsDir() {
			errs = append(errs, removeDir(filepath.Join(dir, e.Name())))
		}
	}
	kill := filepath.Join(dir, "cgroup.kill") // Linux 5.14+, v2 only
	_, kerr := os.Stat(kill)
	var err error
	for range 50 {
		if kerr != nil || os.WriteFile(kill, []byte("1"), 0) != nil {
			pids, _ := readPIDs(filepath.Join(dir, "cgroup.procs"))
			for _, pid := range pids {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if err = os.Remove(dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return errors.Join(errs...)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.Join(append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))...)
}

// removeStale removes the cgroups in dir that a harness which is no longer
// running made (named flood-harness-<its pid>…), killing what is in them,
// and returns their paths.
func removeStale(dir string, self int) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		m := ownerName.FindStringSubmatch(e.Name())
		if !e.IsDir() || m == nil {
			continue
		}
		pid, _ := strconv.Atoi(m[1])
		if pid == self || alive(pid) {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if removeDir(p) == nil {
			out = append(out, p)
		}
	}
	return out
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

func hasController(dir, name string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	return err == nil && slices.Contains(strings.Fields(string(b)), name)
}

func readPIDs(path string) ([]int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parsePIDs(b), nil
}

// parsePIDs reads a cgroup.procs file's PIDs.
func parsePIDs(b []byte) []int {
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// unwrapPath drops the path from a *PathError: the message names the file
// already.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// External is a cgroup this package did not make (an attached server's):
// read, never removed, nothing in it killed.
func External(dir string) *Group {
	dir = filepath.Clean(dir)
	_, err := os.Stat(filepath.Join(dir, "cgroup.controllers"))
	return &Group{Dir: dir, V2: err == nil, external: true}
}

// Of is the memory cgroup pid is in (v2, or v1's memory hierarchy), under
// /sys/fs/cgroup, as an External one.
func Of(pid int) (*Group, error) {
	m, err := proc.CgroupsOf(pid)
	if err != nil {
		return nil, err
	}
	if m.HasV1Memory {
		return &Group{Dir: filepath.Join("/sys/fs/cgroup/memory", m.V1Memory), external: true}, nil
	}
	if _, err := os.Stat(filepath.Join("/sys/fs/cgroup", m.V2, "memory.current")); m.HasV2 && err == nil {
		return &Group{Dir: filepath.Join("/sys/fs/cgroup", m.V2), V2: true, external: true}, nil
	}
	return nil, fmt.Errorf("process %d is in no memory cgroup", pid)
}
