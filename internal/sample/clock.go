package sample

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// clock wakes the sampler every period until stopped. It is a timerfd read
// through Go's netpoller where Linux gives one, else a time.Ticker: a Go
// timer also wakes the runtime's monitor thread at every expiry, and on
// this project's VM (where a thread's wake-up costs ~40 µs of CPU, a bare C
// nanosleep's) a 20 ms ticker woke five threads' worth an expiry, 1.0–1.4%
// of a core, where the timerfd woke three, 0.5–0.7% (a bench, 3 × 10 s
// each; make bench-sampler for the sampler's whole cost).
type clock struct {
	f    *os.File // the timerfd; nil with a ticker
	t    *time.Ticker
	stop chan struct{}
	buf  [8]byte
}

func newClock(period time.Duration) *clock {
	c := &clock{stop: make(chan struct{})}
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err == nil {
		c.f = os.NewFile(uintptr(fd), "timerfd") // non-blocking: the netpoller waits on it
		if c.reset(period) == nil {
			return c
		}
		c.f.Close()
		c.f = nil
	}
	c.t = time.NewTicker(period)
	return c
}

// reset makes every period from now on the clock's.
func (c *clock) reset(period time.Duration) error {
	if c.f == nil {
		c.t.Reset(period)
		return nil
	}
	ts := unix.NsecToTimespec(int64(period))
	its := unix.ItimerSpec{Interval: ts, Value: ts}
	rc, err := c.f.SyscallConn() // not Fd(), which would make the file blocking
	if err != nil {
		return err
	}
	cerr := rc.Control(func(fd uintptr) { err = unix.TimerfdSettime(int(fd), 0, &its, nil) })
	return errors.Join(cerr, err)
}

// wait blocks until the next expiry (expiries missed meanwhile are one)
// and reports false once the clock is stopped.
func (c *clock) wait() bool {
	if c.f == nil {
		select {
		case <-c.t.C:
			return true
		case <-c.stop:
			return false
		}
	}
	// The read is a raw syscall, the wait for it the netpoller's: a
	// syscall Go's scheduler is told of wakes its monitor thread (see
	// proc.Pread).
	rc, err := c.f.SyscallConn()
	if err != nil {
		return false
	}
	err = rc.Read(func(fd uintptr) bool {
		_, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.buf[0])), uintptr(len(c.buf)))
		return errno != syscall.EAGAIN
	})
	return err == nil || !errors.Is(err, os.ErrClosed) && !c.stopped()
}

func (c *clock) stopped() bool {
	select {
	case <-c.stop:
		return true
	default:
		return false
	}
}

// halt stops the clock and wakes a wait in progress; call it once.
func (c *clock) halt() {
	close(c.stop)
	if c.f != nil {
		c.f.Close() // a Read in progress returns os.ErrClosed
	} else {
		c.t.Stop()
	}
}
