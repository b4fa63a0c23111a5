package scenario

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSplitCommand(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"python3 app.py --port {port}", []string{"python3", "app.py", "--port", "{port}"}},
		{`sh -c 'exec srv --port {port}'`, []string{"sh", "-c", "exec srv --port {port}"}},
		{`a "b c" d\ e "x\"y"`, []string{"a", "b c", "d e", `x"y`}},
		{"  spaced\tout  ", []string{"spaced", "out"}},
		{`empty "" arg`, []string{"empty", "", "arg"}},
	} {
		if got, err := SplitCommand(tt.in); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`a 'b`, `a "b`, `a\`} {
		if got, err := SplitCommand(bad); err == nil {
			t.Errorf("SplitCommand(%q) = %q, want an error", bad, got)
		}
	}
}

// The YAML of a quick scenario parses back into the scenario it describes,
// whatever the commands hold.
func TestQuickYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	q := QuickDefaults()
	q.Name, q.Path, q.Health = "flask", "/export?rows=2000&x=a b", "/health"
	q.Levels, q.Duration = []int{1, 4}, 3*time.Second
	q.Targets = []QuickTarget{
		{Name: "app", Command: []string{"gunicorn", "--bind", "127.0.0.1:{port}", "app:app"}},
		{Name: "odd", Command: []string{"sh", "-c", `echo "#: {x}" && exec srv '{port}'`, "-", "true", "1.5", "- x"}},
	}
	s, err := Parse("quick.yaml", q.YAML())
	if err != nil {
		t.Fatalf("%v\n%s", err, q.YAML())
	}
	if s.Name != "flask" || s.Request.Path != q.Path || !slices.Equal(s.Levels, q.Levels) || s.Duration != q.Duration ||
		s.Memory.Limit != q.Limit || s.Client.ReadRate != q.ReadRate || s.Client.RecvBuffer != q.RecvBuffer || s.Gate == nil || len(s.Gate.Rules) != 3 {
		t.Errorf("parsed back: %+v", s)
	}
	for i, tg := range s.Targets {
		if !slices.Equal(tg.Command, q.Targets[i].Command) || tg.Health != "/health" || tg.Name != q.Targets[i].Name {
			t.Errorf("target %d parsed back as %+v, want %+v", i, tg, q.Targets[i])
		}
	}
}

func TestParseTarget(t *testing.T) {
	t.Parallel()
	if tg, err := ParseTarget("api=node server.js --port {port}", 0); err != nil || tg.Name != "api" || tg.Command[0] != "node" {
		t.Errorf("named: %+v, %v", tg, err)
	}
	if tg, err := ParseTarget("PORT={port} node server.js", 1); err != nil || tg.Name != "target2" || !strings.HasPrefix(tg.Command[0], "PORT=") {
		t.Errorf("an environment assignment is not a name: %+v, %v", tg, err)
	}
	if _, err := ParseTarget("  ", 0); err == nil {
		t.Error("an empty command was accepted")
	}
}

// Commands come from the command line: any input is split or refused,
// never a panic, and words without quotes or escapes split on blanks.
func FuzzSplitCommand(f *testing.F) {
	f.Add(`python3 app.py --port {port}`)
	f.Add(`a "b c" 'd e' f\ g`)
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitCommand(s)
		blank := func(c rune) bool { return c == ' ' || c == '\t' || c == '\n' }
		if want := strings.FieldsFunc(s, blank); err == nil && !strings.ContainsAny(s, `'"\`) && !slices.Equal(words, want) && len(words)+len(want) > 0 {
			t.Errorf("SplitCommand(%q) = %q, want %q", s, words, want)
		}
	})
}
