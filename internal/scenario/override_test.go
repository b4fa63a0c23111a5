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

func TestOverrideK6Instances(t *testing.T) {
	t.Parallel()
	k6 := "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\nk6: bin/k6\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\n"
	s, err := Parse("k6.yaml", []byte(k6))
	if err != nil {
		t.Fatal(err)
	}
	if s.K6.Bin != "bin/k6" || s.K6.Instances != 1 {
		t.Errorf("k6: bin/k6 read as %+v, want the binary and one instance", s.K6)
	}
	if err := s.Override(Overrides{K6Instances: 3}); err != nil || s.K6.Instances != 3 {
		t.Errorf("--k6-instances 3: %v, instances %d", err, s.K6.Instances)
	}
	if err := s.Override(Overrides{K6Instances: 99}); err == nil || !strings.Contains(err.Error(), "--k6-instances 99: want 1..64") {
		t.Errorf("--k6-instances 99: %v", err)
	}
	plain, _ := Parse("good.yaml", []byte(good))
	if err := plain.Override(Overrides{K6Instances: 2}); err == nil || !strings.Contains(err.Error(), "for driver: k6") {
		t.Errorf("--k6-instances on a harness-driver scenario: %v", err)
	}
	m, err := Parse("k6m.yaml", []byte(strings.Replace(k6, "k6: bin/k6", "k6: {bin: /opt/k6, instances: 4}", 1)))
	if err != nil || m.K6.Bin != "/opt/k6" || m.K6.Instances != 4 {
		t.Errorf("k6: {bin, instances}: %+v, %v", m.K6, err)
	}
	if _, err := Parse("k6b.yaml", []byte(strings.Replace(k6, "k6: bin/k6", "k6: {instances: -1}", 1))); err == nil || !strings.Contains(err.Error(), "k6.instances: want 1..64") {
		t.Errorf("k6: {instances: -1}: %v", err)
	}
}
