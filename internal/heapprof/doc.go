// Package heapprof is the harness's model of a heap profile: a pprof
// profile (or a JSON heap top a non-Go target computed itself) parsed into
// the functions holding the most in-use bytes, and two of them subtracted
// into what grew; and a runtime's own heap top (heap: auto's) written as a
// pprof profile, so every runtime's evidence opens in pprof. It fetches nothing and decides nothing about when to
// profile (that is the sweep's); RunDiffs reads the two runs' profile files
// a gate or report compares.
package heapprof
