package sample

import (
	"testing"
	"time"
)

// The clock wakes once a period (not sooner), takes a new period, and
// halting it ends a wait in progress at once.
func TestClock(t *testing.T) {
	t.Parallel()
	c := newClock(10 * time.Millisecond)
	start := time.Now()
	for range 5 {
		if !c.wait() {
			t.Fatal("a running clock's wait reported it stopped")
		}
	}
	if d := time.Since(start); d < 45*time.Millisecond {
		t.Errorf("5 waits of 10 ms took %v", d)
	}
	if err := c.reset(time.Hour); err != nil {
		t.Fatal(err)
	}
	done := make(chan bool)
	go func() { done <- c.wait() }()
	time.Sleep(30 * time.Millisecond)
	select {
	case <-done:
		t.Fatal("a wait of an hour's period ended after 30 ms")
	default:
	}
	c.halt()
	select {
	case ok := <-done:
		if ok {
			t.Error("a halted clock's wait reported an expiry")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("halt did not end the wait")
	}
}
