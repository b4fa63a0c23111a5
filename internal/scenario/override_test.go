package scenario

import (
	"slices"
	"strings"
	"testing"

	"github.com/floodharness/harness/internal/fault"
)

func TestOverride(t *testing.T) {
	t.Parallel()
	load := func() *Scenario {
		s, err := Parse("s.yaml", []byte("name: s\nlevels: [1, 8]\ntargets:\n  - {name: a, command: [x, \"{port}\"]}\n  - {name: b, command: [x, \"{port}\"]}\n"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s := load()
	if err := s.Override(Overrides{Levels: []int{2, 4}, Targets: []string{"b", "b"}, Repeats: 3}); err != nil {
		t.Fatalf("Override = %v", err)
	}
	if !slices.Equal(s.Levels, []int{2, 4}) || len(s.Targets) != 1 || s.Targets[0].Name != "b" || s.Repeats != 3 {
		t.Errorf("after Override: levels %v, targets %v, repeats %d", s.Levels, s.Targets, s.Repeats)
	}
	for _, tt := range []struct {
		o    Overrides
		want string
	}{
		{Overrides{Levels: []int{4, 4}}, "concurrency 4 given twice"},
		{Overrides{Levels: []int{0}}, "concurrency 0: want 1..10000"},
		{Overrides{Levels: []int{}}, "at least one level"},
		{Overrides{Targets: []string{"c"}}, `no target "c" (it has a, b)`},
		{Overrides{Repeats: 101}, "--repeats 101"},
	} {
		s := load()
		err := s.Override(tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) || fault.KindOf(err) != fault.BadInput {
			t.Errorf("Override(%+v) = %v, want bad input saying %q", tt.o, err, tt.want)
		}
		if !slices.Equal(s.Levels, []int{1, 8}) || len(s.Targets) != 2 || s.Repeats != 1 {
			t.Errorf("Override(%+v) failed but changed the scenario", tt.o)
		}
	}
}
