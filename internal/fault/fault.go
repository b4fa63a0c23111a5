package fault

import (
	"errors"
	"fmt"
	"strings"
)

// Kind is what a failure means for whoever ran the command.
type Kind int

const (
	// RunFailed: the run itself could not do its job (a target never
	// became healthy, an interrupt, a file that could not be written). It
	// is what an error of no declared kind means.
	RunFailed Kind = iota
	// BadInput: a file, flag or argument the user must fix; the message
	// names it (file:line: key for files).
	BadInput
	// Regression: the gate judged the run worse than its rules allow.
	Regression
	// Unmet: what a check command exists to confirm is not so (harness
	// doctor: no kernel memory cap here).
	Unmet
)

func (k Kind) String() string {
	switch k {
	case BadInput:
		return "bad input"
	case Regression:
		return "regression"
	case Unmet:
		return "unmet"
	}
	return "run failed"
}

// Kinded is implemented by error types that carry their own kind.
type Kinded interface{ FaultKind() Kind }

// Error attaches a kind to an error.
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string   { return e.Err.Error() }
func (e *Error) Unwrap() error   { return e.Err }
func (e *Error) FaultKind() Kind { return e.Kind }

// Wrap gives err the kind k; nil stays nil.
func Wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Err: err}
}

// Errorf is fmt.Errorf with a kind.
func Errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Err: fmt.Errorf(format, args...)}
}

// KindOf is the kind of the first error in err's chain that declares one,
// and RunFailed when none does. Joined errors (errors.Join) count as their
// most severe member: a regression outranks bad input, which outranks a
// failed run, so a failing side step never hides a verdict.
func KindOf(err error) Kind {
	switch e := err.(type) {
	case nil:
		return RunFailed
	case Kinded:
		return e.FaultKind()
	case interface{ Unwrap() []error }:
		best := RunFailed
		for _, m := range e.Unwrap() {
			if k := KindOf(m); rank(k) > rank(best) {
				best = k
			}
		}
		return best
	}
	return KindOf(errors.Unwrap(err))
}

func rank(k Kind) int {
	switch k {
	case Regression, Unmet:
		return 2
	case BadInput:
		return 1
	}
	return 0
}

// FirstLine is what a one-line place (a table cell, a log line, a note)
// shows of an error's text: up to its first newline. A start error carries
// the target's log after it.
func FirstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}
