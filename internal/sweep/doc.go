// Package sweep runs a scenario: for every target × level × repeat it
// starts a fresh target, measures it at rest, floods it while sampling its
// memory, fetches a heap profile near the peak, stops it, and appends the
// run to results.json — rewritten atomically after every run, so an
// interrupted sweep keeps everything it measured. It owns the order of
// things; measuring, loading and process control live in their packages.
package sweep
