package targets

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"
)

// Admission policies. Each reserves the response's estimated size from a
// byte budget; they differ in when the reservation ends.
const (
	// AdmitNone admits every request.
	AdmitNone = "none"
	// AdmitHeld blocks until the budget has room and keeps the reservation
	// until the body is fully written or the client is gone.
	AdmitHeld = "held"
	// AdmitEarlyRelease is the KNOWN-BAD variant, kept on purpose: it
	// reserves, then releases as soon as the body starts, so the budget
	// bounds nothing while bodies are in flight. It reproduces the incident
	// where 90 concurrent downloads were all OOM-killed behind a budget.
	AdmitEarlyRelease = "early-release"
	// AdmitReject answers 503 with Retry-After when the budget is short,
	// without waiting, and otherwise behaves as AdmitHeld.
	AdmitReject = "reject"
)

// Admissions lists the accepted policies.
func Admissions() []string {
	return []string{AdmitNone, AdmitHeld, AdmitEarlyRelease, AdmitReject}
}

// Budget is a byte-budget semaphore whose counters are visible, so tests can
// prove each reservation is released exactly once.
type Budget struct {
	size     int64
	sem      *semaphore.Weighted
	reserved atomic.Int64 // bytes held right now
	acquires atomic.Int64
	releases atomic.Int64
	rejects  atomic.Int64
}

// NewBudget returns a budget of size bytes.
func NewBudget(size int64) (*Budget, error) {
	if size <= 0 {
		return nil, fmt.Errorf("budget must be positive, got %d bytes", size)
	}
	return &Budget{size: size, sem: semaphore.NewWeighted(size)}, nil
}

// Reservation is bytes taken from a Budget. Shrink and Release may be called
// any number of times from any goroutine; only the first Release returns
// what is left, and nothing is returned twice.
type Reservation struct {
	b        *Budget
	mu       sync.Mutex
	n        int64 // bytes held now
	released bool
}

// clamp keeps a request larger than the whole budget admissible: it then
// takes the entire budget and runs alone.
func (b *Budget) clamp(n int64) int64 { return max(1, min(n, b.size)) }

// Acquire waits until n bytes are free or ctx is done.
func (b *Budget) Acquire(ctx context.Context, n int64) (*Reservation, error) {
	n = b.clamp(n)
	if err := b.sem.Acquire(ctx, n); err != nil {
		return nil, err
	}
	return b.reserve(n), nil
}

// TryAcquire takes n bytes if they are free now, and reports whether it did.
func (b *Budget) TryAcquire(n int64) (*Reservation, bool) {
	n = b.clamp(n)
	if !b.sem.TryAcquire(n) {
		b.rejects.Add(1)
		return nil, false
	}
	return b.reserve(n), true
}

func (b *Budget) reserve(n int64) *Reservation {
	b.reserved.Add(n)
	b.acquires.Add(1)
	return &Reservation{b: b, n: n}
}

// Shrink returns all but n of the reservation's bytes to the budget: for a
// request whose peak (building a body) is larger than what it then holds
// (the finished body) until it ends. It never grows a reservation.
func (r *Reservation) Shrink(n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n = max(1, n)
	if r.released || n >= r.n {
		return
	}
	r.give(r.n - n)
	r.n = n
}

// Release returns the reservation's bytes to the budget, once.
func (r *Reservation) Release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.released {
		return
	}
	r.released = true
	r.b.releases.Add(1)
	r.give(r.n)
	r.n = 0
}

func (r *Reservation) give(n int64) {
	r.b.reserved.Add(-n)
	r.b.sem.Release(n)
}

// BudgetStats is a snapshot of a budget's counters, as /debug/vars shows it.
type BudgetStats struct {
	Size     int64 `json:"budget_bytes"`
	Reserved int64 `json:"reserved_bytes"`
	Acquires int64 `json:"acquires"`
	Releases int64 `json:"releases"`
	Rejects  int64 `json:"rejects"`
}

// Stats reads the counters.
func (b *Budget) Stats() BudgetStats {
	return BudgetStats{
		Size:     b.size,
		Reserved: b.reserved.Load(),
		Acquires: b.acquires.Load(),
		Releases: b.releases.Load(),
		Rejects:  b.rejects.Load(),
	}
}
