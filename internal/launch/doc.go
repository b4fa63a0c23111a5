// Package launch owns the lifecycle of a server under test: start it fresh
// on a free port in its own process group (optionally inside a memory
// cgroup), wait until it is healthy, and stop it — SIGTERM, grace, SIGKILL
// to the whole group — reporting how it ended. It stops only processes it
// started, by process group, never by name. It does not generate load.
package launch
