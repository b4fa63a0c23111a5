// Package result is the results.json schema: what a run measured, written
// atomically after every measurement so an interrupted sweep keeps what it
// had, and read back strictly by everything downstream (reports, gate).
// It never measures or renders anything: its only words are the ones
// results.json holds (why a run failed, its failures by kind).
package result
