// Package launch owns the lifecycle of a server under test and how its
// memory is read. A target is one of three kinds, each a type of its own
// behind Process: started (a command run fresh on a free port in its own
// process group, inside a memory cgroup (internal/cgroup) where one can be made), container
// (an image an engine runs below a cgroup the harness made) and attached (a
// running server found by PID, PID file, cgroup or container, which it
// never stops). Each kind owns its start and stop, its memory in the one
// measure (Process.Memory), its peak and the peak's source (Process.Peak),
// its cap (Process.LimitBy) and its peak reset; no other package knows the
// kinds. It stops only processes it started, by process group, never by
// name. It does not generate load.
package launch
