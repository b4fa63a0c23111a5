package proc

import (
	"fmt"
	"os"
	"slices"
	"strings"
)

// Membership is where a process sits in the cgroup hierarchies, from
// /proc/PID/cgroup: its path in the v1 memory hierarchy and in the v2
// unified one, each with whether the file had that line at all (a path of
// "/" is the root).
type Membership struct {
	V1Memory, V2       string
	HasV1Memory, HasV2 bool
}

// ReadCgroups reads the cgroup membership file (/proc/PID/cgroup, or
// /proc/self/cgroup, or a test's fake).
func ReadCgroups(file string) (Membership, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return Membership{}, err
	}
	return parseCgroups(b), nil
}

// CgroupsOf reads /proc/PID/cgroup.
func CgroupsOf(pid int) (Membership, error) {
	return ReadCgroups(fmt.Sprintf("/proc/%d/cgroup", pid))
}

// parseCgroups reads lines "ID:CONTROLLERS:PATH": "0::PATH" is cgroup
// v2's, a line whose controllers include memory is v1's memory hierarchy.
// Lines of another shape are skipped.
func parseCgroups(b []byte) Membership {
	var m Membership
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			m.V2, m.HasV2 = parts[2], true
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			m.V1Memory, m.HasV1Memory = parts[2], true
		}
	}
	return m
}
