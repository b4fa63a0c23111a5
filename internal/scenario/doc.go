// Package scenario reads scenario files: which targets to start, at which
// concurrency levels to flood them, and how to measure them. It decodes
// strictly, fills defaults in one place and reports every problem at once
// as file:line: key: reason. It never starts or measures anything.
package scenario
