// Package sample measures a target's memory from outside: RSS of its process
// tree over time, the kernel's own peak, and heap profiles fetched from
// the target (heapprof reads them). It reads; it
// never starts, stops or loads a target.
package sample
