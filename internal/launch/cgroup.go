package launch

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Cgroup is a memory cgroup this package created for one target, v1 or v2.
type Cgroup struct {
	Dir string
	V2  bool
}

// CgroupFS says where cgroups are mounted; tests point it at a fake tree.
type CgroupFS struct {
	Root     string // usually /sys/fs/cgroup
	SelfFile string // usually /proc/self/cgroup
}

// SystemCgroups is the real cgroup filesystem.
func SystemCgroups() CgroupFS {
	return CgroupFS{Root: "/sys/fs/cgroup", SelfFile: "/proc/self/cgroup"}
}

// Version reports "v2", "v1" or "none": which memory controller a cap
// would use.
func (fs CgroupFS) Version() string {
	if _, v2, err := fs.parent(); err == nil {
		if v2 {
			return "v2"
		}
		return "v1"
	}
	return "none"
}

// parent finds the memory cgroup this process is in: new cgroups are made
// inside it, so they are ours to create and remove.
func (fs CgroupFS) parent() (string, bool, error) {
	self, err := os.ReadFile(fs.SelfFile)
	if err != nil {
		return "", false, err
	}
	var v1Path, v2Path string
	found1, found2 := false, false
	sc := bufio.NewScanner(bytes.NewReader(self))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2Path, found2 = parts[2], true
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				v1Path, found1 = parts[2], true
			}
		}
	}
	if found1 {
		dir := filepath.Join(fs.Root, "memory", v1Path)
		if _, err := os.Stat(filepath.Join(dir, "memory.limit_in_bytes")); err == nil {
			return dir, false, nil
		}
	}
	if found2 {
		ctl, err := os.ReadFile(filepath.Join(fs.Root, "cgroup.controllers"))
		if err == nil && bytes.Contains(ctl, []byte("memory")) {
			return filepath.Join(fs.Root, v2Path), true, nil
		}
	}
	return "", false, errors.New("no writable memory cgroup controller")
}

// NewCgroup creates a memory cgroup named name capped at limit bytes, with
// swap capped too so the cap means what it says.
func (fs CgroupFS) NewCgroup(name string, limit int64) (*Cgroup, error) {
	parent, v2, err := fs.parent()
	if err != nil {
		return nil, err
	}
	cg := &Cgroup{Dir: filepath.Join(parent, name), V2: v2}
	if v2 {
		// A v2 child gets the memory controller only if the parent hands it down.
		_ = os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte("+memory"), 0)
	}
	if err := os.Mkdir(cg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup: %w", err)
	}
	limitStr := []byte(strconv.FormatInt(limit, 10))
	var werr error
	if v2 {
		werr = os.WriteFile(filepath.Join(cg.Dir, "memory.max"), limitStr, 0)
		if werr == nil {
			_ = os.WriteFile(filepath.Join(cg.Dir, "memory.swap.max"), []byte("0"), 0)
		}
	} else {
		werr = os.WriteFile(filepath.Join(cg.Dir, "memory.limit_in_bytes"), limitStr, 0)
		if werr == nil {
			// Absent without swap accounting; harmless then.
			_ = os.WriteFile(filepath.Join(cg.Dir, "memory.memsw.limit_in_bytes"), limitStr, 0)
		}
	}
	if werr != nil {
		_ = os.Remove(cg.Dir)
		return nil, fmt.Errorf("set cgroup limit: %w", werr)
	}
	return cg, nil
}

// ProcsFile is where a process writes its PID to join the cgroup.
func (c *Cgroup) ProcsFile() string { return filepath.Join(c.Dir, "cgroup.procs") }

func (c *Cgroup) readInt(name string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, name))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

// Usage is the cgroup's memory charge now (includes page cache).
func (c *Cgroup) Usage() (int64, error) {
	if c.V2 {
		return c.readInt("memory.current")
	}
	return c.readInt("memory.usage_in_bytes")
}

// Peak is the kernel's peak charge of the cgroup (includes page cache).
func (c *Cgroup) Peak() (int64, error) {
	if c.V2 {
		return c.readInt("memory.peak") // Linux 5.19+
	}
	return c.readInt("memory.max_usage_in_bytes")
}

// OOMKills is how many processes the kernel OOM-killed in the cgroup.
func (c *Cgroup) OOMKills() (int64, error) {
	name := "memory.oom_control"
	if c.V2 {
		name = "memory.events"
	}
	return c.field(name, "oom_kill")
}

// Anon is the anonymous (non-cache) memory charged now: what RSS means.
func (c *Cgroup) Anon() (int64, error) {
	if c.V2 {
		return c.field("memory.stat", "anon")
	}
	return c.field("memory.stat", "rss")
}

func (c *Cgroup) field(file, key string) (int64, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, file))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, " "); ok && k == key {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no %s", file, key)
}

// Remove kills whatever is still in the cgroup (only processes this package
// put there) and removes it, retrying while the kernel lets go.
func (c *Cgroup) Remove() error {
	var err error
	for range 50 {
		if b, rerr := os.ReadFile(c.ProcsFile()); rerr == nil {
			for _, f := range strings.Fields(string(b)) {
				if pid, perr := strconv.Atoi(f); perr == nil && pid > 0 {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		if err = os.Remove(c.Dir); err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("remove cgroup %s: %w", c.Dir, err)
}
