package scenario

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/units"

	"github.com/floodharness/harness/internal/fault"
)

// withFlags builds the scenario yaml says with f laid over it.
func withFlags(t *testing.T, yaml string, f Flags) (*Scenario, []string, error) {
	t.Helper()
	return build("s.yaml", []byte(yaml), f)
}

func TestFlags(t *testing.T) {
	t.Parallel()
	two := "name: s\nlevels: [1, 8]\ntargets:\n  - {name: a, command: [x, \"{port}\"]}\n  - {name: b, command: [x, \"{port}\"]}\n"
	s, _, err := withFlags(t, two, Flags{Levels: []int{2, 4}, Targets: []string{"b", "b"}, Repeats: 3})
	if err != nil {
		t.Fatalf("flags = %v", err)
	}
	if !slices.Equal(s.Levels, []int{2, 4}) || len(s.Targets) != 1 || s.Targets[0].Name != "b" || s.Repeats != 3 {
		t.Errorf("after Override: levels %v, targets %v, repeats %d", s.Levels, s.Targets, s.Repeats)
	}
	for _, tt := range []struct {
		o    Flags
		want string
	}{
		{Flags{Levels: []int{4, 4}}, "--levels (levels[1]): concurrency 4 given twice"},
		{Flags{Levels: []int{0}}, "--levels (levels[0]): concurrency 0: want 1..1000000"},
		{Flags{Levels: []int{}}, "--levels (levels): want at least one"},
		{Flags{Targets: []string{"c"}}, `--targets (targets): s.yaml has no target "c" (it has a, b)`},
		{Flags{Repeats: 101}, "--repeats (repeats): want 1..100, got 101"},
		{Flags{Duration: -time.Second}, "--duration (duration): want a positive duration"},
		{Flags{Health: "healthz"}, `--health (targets[0].health): want a path starting with /, got "healthz"`},
	} {
		s, _, err := withFlags(t, two, tt.o)
		if err == nil || !strings.Contains(err.Error(), tt.want) || fault.KindOf(err) != fault.BadInput || s != nil {
			t.Errorf("flags %+v = %v, %v; want no scenario and bad input saying %q", tt.o, s, err, tt.want)
		}
	}
}

// A file's undecodable key under a target --targets moves keeps its own
// message once, at the target's new place.
func TestFlagsKeepDecodeErrorsOfKeptTargets(t *testing.T) {
	t.Parallel()
	yaml := "name: s\nlevels: [1]\ntargets:\n  - {name: a, command: [x, \"{port}\"]}\n  - {name: b, command: 5}\n"
	_, _, err := withFlags(t, yaml, Flags{Targets: []string{"b"}})
	if err == nil || strings.Count(err.Error(), "command") != 1 || !strings.Contains(err.Error(), "s.yaml:5: targets[1].command") {
		t.Errorf("--targets b over a bad key of b: %v", err)
	}
}

func TestFlagK6Instances(t *testing.T) {
	t.Parallel()
	k6 := "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\nk6: bin/k6\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\n"
	s, err := Parse("k6.yaml", []byte(k6))
	if err != nil {
		t.Fatal(err)
	}
	if s.K6.Bin != "bin/k6" || s.K6.Instances != 1 {
		t.Errorf("k6: bin/k6 read as %+v, want the binary and one instance", s.K6)
	}
	if s, _, err := withFlags(t, k6, Flags{K6Instances: 3}); err != nil || s.K6.Instances != 3 {
		t.Errorf("--k6-instances 3: %v, %+v", err, s)
	}
	if _, _, err := withFlags(t, k6, Flags{K6Instances: 99}); err == nil || !strings.Contains(err.Error(), "--k6-instances (k6.instances): want 1..64") {
		t.Errorf("--k6-instances 99: %v", err)
	}
	if _, _, err := withFlags(t, good, Flags{K6Instances: 2}); err == nil || !strings.Contains(err.Error(), "for driver: k6") {
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

// The flags go through the scenario's own validation, so what a file may
// not say a flag may not say either: the three drifts the second copy of
// the checks let through.
func TestFlagsAreValidatedAsTheFileIs(t *testing.T) {
	t.Parallel()
	attached := "name: a\nlevels: [1]\nmemory: {limit: 0}\ntargets:\n  - name: app\n    attach: {pid: 1, port: 80}\n"
	chaos := "name: c\nlevels: [1]\nduration: 10s\nchaos: {restart_after: 5s}\ntargets:\n  - {name: a, command: [x, \"{port}\"]}\n"
	remote := "name: r\nlevels: [1]\ndriver: k6\nscript: x.js\nk6: {remote: [\"127.0.0.1:6565\"], collector: \"127.0.0.1:7000\"}\ntargets:\n  - {name: a, command: [x, \"{port}\"]}\n"
	limit := units.Bytes(256 << 20)
	for _, tt := range []struct {
		name, yaml string
		o          Flags
		want       string
	}{
		{"--limit on an attached target", attached, Flags{Limit: &limit}, `--limit (memory.limit): target "app" is attached`},
		{"--duration below chaos.restart_after", chaos, Flags{Duration: 3 * time.Second}, "--duration (duration): 5s is not inside the flood"},
		{"--k6-instances with k6.remote", remote, Flags{K6Instances: 2}, "instances started elsewhere (remote or external) run alone"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse("s.yaml", []byte(tt.yaml)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := withFlags(t, tt.yaml, tt.o); err == nil || !strings.Contains(err.Error(), tt.want) || fault.KindOf(err) != fault.BadInput {
				t.Errorf("flags = %v, want bad input saying %q", err, tt.want)
			}
		})
	}
}

// --path replaces every target's own path too, and says so; --health's
// problems are the flag's, and Where says so to the health check's hint.
func TestFlagsSayWhatTheyReplaced(t *testing.T) {
	t.Parallel()
	yaml := "name: s\nlevels: [1]\ntargets:\n  - {name: a, command: [x, \"{port}\"], path: /a}\n  - {name: b, command: [x, \"{port}\"]}\n"
	s, err := Parse("s.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Where("targets[1].health"); got != "s.yaml:5: targets[1].health" {
		t.Errorf("Where(health) of a file's target = %q, want its line", got)
	}
	s, notes, err := withFlags(t, yaml, Flags{Path: "/x", Health: "/up"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range s.Targets {
		if p := s.RequestPath(tg); p != "/x" {
			t.Errorf("target %s requests %s after --path /x", tg.Name, p)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "a /a (s.yaml:4)") {
		t.Errorf("notes = %q, want one naming target a's own path and its line", notes)
	}
	if got := s.Where("targets[1].health"); got != "--health" {
		t.Errorf("Where(health) after --health = %q", got)
	}
	k, _, err := withFlags(t, yaml, Flags{Targets: []string{"b"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := k.Where("targets[0].health"); got != "s.yaml:5: targets[0].health" {
		t.Errorf("after --targets b, Where(targets[0].health) = %q, want b's line", got)
	}
	if !slices.Equal(k.Omitted, []string{"a"}) || k.TargetsFilter != "--targets b" {
		t.Errorf("omitted %v by %q", k.Omitted, k.TargetsFilter)
	}
}
