// Package proc reads the kernel's per-process memory files under /proc.
// It is the one parser of them, shared by the sampler (a target's tree)
// and usage (the harness's own figures); it never keeps state or decides
// anything from what it reads.
package proc
