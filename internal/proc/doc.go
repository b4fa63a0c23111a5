// Package proc reads the kernel's per-process files under /proc: memory
// (status, smaps_rollup), process trees and groups (stat, children),
// cgroup membership, listening sockets and the host's accept-queue
// counters, the kernel settings under /proc/sys, and the host's facts
// (kernel, memory, CPU model: through gopsutil, read once a run); and
// writes the one file it writes, clear_refs (a VmHWM reset).
// It is the one parser of them, shared by the launcher, the sampler and
// usage (the harness's own figures); it never keeps state or decides
// anything from what it reads.
package proc
