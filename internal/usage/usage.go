// Package usage reads this process's own resource use: CPU time so far and
// a resettable peak RSS, so a flood can show its client was not the
// bottleneck. It never looks at other processes.
package usage

import (
	"os"
	"syscall"
	"time"

	"github.com/floodharness/harness/internal/proc"
)

// CPU is user plus system CPU time.
type CPU time.Duration

// Self is this process's CPU time so far.
func Self() CPU {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return CPU(ru.Utime.Nano() + ru.Stime.Nano())
}

// Sub is the CPU time spent since before.
func (c CPU) Sub(before CPU) time.Duration { return time.Duration(c - before) }

// PeakRSS is this process's VmHWM in bytes (since the last ResetPeakRSS),
// or 0 if it cannot be read.
func PeakRSS() int64 {
	st, err := proc.ReadStatus(os.Getpid())
	if err != nil {
		return 0
	}
	return st.HWM
}

// RSS is this process's resident set now in bytes, or 0.
func RSS() int64 {
	st, err := proc.ReadStatus(os.Getpid())
	if err != nil {
		return 0
	}
	return st.RSS
}

// ResetPeakRSS restarts this process's VmHWM, so the next reading is the
// peak of what follows (Linux ≥ 4.0; a no-op where unsupported).
func ResetPeakRSS() { _ = proc.ResetHWM(os.Getpid()) }
