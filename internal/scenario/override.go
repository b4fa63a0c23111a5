package scenario

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/units"
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
	// Path replaces request.path, Health every target's health path.
	Path, Health string
	// Duration replaces duration.
	Duration time.Duration
	// Limit, ReadRate and RecvBuffer, when set, replace memory.limit,
	// client.read_rate and client.recv_buffer (0 is a value: no cap).
	Limit, ReadRate, RecvBuffer *units.Bytes
	// K6Instances replaces k6.instances (driver k6 only).
	K6Instances int
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
	for flag, p := range map[string]string{"--path": o.Path, "--health": o.Health} {
		if p != "" && !strings.HasPrefix(p, "/") {
			errs = append(errs, fmt.Sprintf("%s %q: want a path starting with /", flag, p))
		}
	}
	if o.Duration < 0 || (o.Duration > 0 && o.Duration <= s.Warmup) {
		errs = append(errs, fmt.Sprintf("--duration %v: want more than the warmup (%v)", o.Duration, s.Warmup))
	}
	if o.Limit != nil && *o.Limit != 0 && *o.Limit < 8<<20 {
		errs = append(errs, fmt.Sprintf("--limit %v is too small to start a server; want 0 (no cap) or at least 8MiB", *o.Limit))
	}
	for flag, b := range map[string]*units.Bytes{"--limit": o.Limit, "--read-rate": o.ReadRate, "--recv-buffer": o.RecvBuffer} {
		if b != nil && *b < 0 {
			errs = append(errs, fmt.Sprintf("%s %v: want a size ≥ 0", flag, *b))
		}
	}
	switch {
	case o.K6Instances != 0 && s.Driver != "k6":
		errs = append(errs, fmt.Sprintf("--k6-instances: %s's driver is %s; k6 instances are for driver: k6", s.File, s.Driver))
	case o.K6Instances < 0 || o.K6Instances > 64:
		errs = append(errs, fmt.Sprintf("--k6-instances %d: want 1..64", o.K6Instances))
	case o.K6Instances > 1 && s.Segment != "":
		errs = append(errs, "--k6-instances: the scenario sets segments; with several instances the harness gives each its segment")
	}
	sort.Strings(errs)
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
	if o.Path != "" {
		s.Request.Path = o.Path
	}
	if o.Health != "" {
		for i := range s.Targets {
			s.Targets[i].Health = o.Health
		}
	}
	if o.Duration > 0 {
		s.Duration = o.Duration
	}
	if o.Limit != nil {
		s.Memory.Limit = *o.Limit
	}
	if o.ReadRate != nil {
		s.Client.ReadRate = *o.ReadRate
	}
	if o.RecvBuffer != nil {
		s.Client.RecvBuffer = *o.RecvBuffer
	}
	if o.K6Instances > 0 {
		s.K6.Instances = o.K6Instances
	}
	return nil
}
