// Package cgroup makes, reads and removes the memory cgroups targets are
// capped in: on cgroup v1 or v2, in the harness's own cgroup, beside it or
// in a leaf it moved itself into, or as a systemd scope per target for a
// user who can make none (Prepare says which, and why none where there is
// none). A Group is read through files kept open (its charge, anonymous
// memory, peak and OOM kills) by the sampler and the launcher; cgroups a
// dead harness left are found by their name and removed. It never starts a
// target or decides what a reading means.
package cgroup
