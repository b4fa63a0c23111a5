package scenario

import (
	"fmt"
	"slices"
	"strings"

	"github.com/floodharness/harness/internal/fault"
)

// Overrides change a loaded scenario from the command line. Zero values
// change nothing.
type Overrides struct {
	// Levels replace the scenario's levels (each 1..10000, none twice).
	Levels []int
	// Targets keep only these targets, in the scenario's order.
	Targets []string
	// Repeats replaces the scenario's repeats (1..100).
	Repeats int
}

// Override applies o to s, checking the new values as the scenario's own
// are checked. Errors name the flag and are bad input.
func (s *Scenario) Override(o Overrides) error {
	var errs []string
	if o.Levels != nil {
		for i, l := range o.Levels {
			switch {
			case l < 1 || l > 10000:
				errs = append(errs, fmt.Sprintf("--levels: concurrency %d: want 1..10000", l))
			case slices.Contains(o.Levels[:i], l):
				errs = append(errs, fmt.Sprintf("--levels: concurrency %d given twice (its runs would overwrite each other's files)", l))
			}
		}
		if len(o.Levels) == 0 {
			errs = append(errs, "--levels: want at least one level")
		}
	}
	var keep []Target
	for _, name := range o.Targets {
		t, ok := s.Target(name)
		if !ok {
			names := make([]string, 0, len(s.Targets))
			for _, t := range s.Targets {
				names = append(names, t.Name)
			}
			errs = append(errs, fmt.Sprintf("--targets: %s has no target %q (it has %s)", s.File, name, strings.Join(names, ", ")))
			continue
		}
		if !slices.ContainsFunc(keep, func(k Target) bool { return k.Name == t.Name }) {
			keep = append(keep, t)
		}
	}
	if o.Repeats < 0 || o.Repeats > 100 {
		errs = append(errs, fmt.Sprintf("--repeats %d: want 1..100", o.Repeats))
	}
	if len(errs) > 0 {
		return fault.Errorf(fault.BadInput, "%s", strings.Join(errs, "; "))
	}
	if o.Levels != nil {
		s.Levels = o.Levels
	}
	if keep != nil {
		s.Targets = keep
	}
	if o.Repeats > 0 {
		s.Repeats = o.Repeats
	}
	return nil
}
