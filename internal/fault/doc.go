// Package fault names the kinds of failure a command can end with, so that
// every package says what went wrong as a kind and only main turns a kind
// into an exit code. It holds no other logic and imports nothing of the
// harness.
package fault
