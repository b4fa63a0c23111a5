// Package gate decides whether a run regressed: it checks results against
// absolute bounds and against a baseline run, with the repeats' own noise
// taken into account, and writes verdicts as a table, JUnit XML, Markdown
// and benchstat lines. It reads results; it never runs anything.
package gate
