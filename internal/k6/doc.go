// Package k6 is the load driver that runs k6 (load.Driver): one k6
// process for a level, or the level split over several instances — local,
// on other hosts, or started elsewhere — whose figures the k6 output
// extension in xk6/ streams back (internal/k6out) and this package merges
// into one verdict, thresholds included. It links no k6 code: k6 is a
// program it runs.
package k6
