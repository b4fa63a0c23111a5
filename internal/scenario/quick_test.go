package scenario

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/floodharness/harness/internal/units"
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

// The file a quick scenario keeps is marshalled from its value and parses
// back into that value, whatever the commands and flags hold.
func TestQuickYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	size, rate := units.Bytes(16<<20), units.Bytes(256<<10)
	for _, tt := range []struct {
		name string
		q    Quick
		f    Flags
	}{
		{"defaults", Quick{Cmds: []string{"app=python3 app.py --port {port}"}}, Flags{}},
		{"the reference server", Quick{}, Flags{}},
		{"odd words", Quick{Name: "flask", Cmds: []string{
			"gunicorn --bind 127.0.0.1:{port} app:app",
			`odd=sh -c 'echo "#: {x}" && exec srv {port}' - true 1.5 '- x'`,
		}}, Flags{Path: "/export?rows=2000&x=a b", Health: "/health", Levels: []int{1, 4}, Duration: 3 * time.Second}},
		{"requests and clients", Quick{Cmds: []string{"srv {port}"}}, Flags{
			Method: "put", Headers: []string{"Authorization: Bearer ${TOKEN}", "X-A: 1"}, BodySize: &size, ContentType: "application/json",
			WriteRate: &rate, SendBuffer: &rate, HTTP: "h2c", Limit: &size, ReadRate: &rate, Validate: "json", Rows: "results.0.values",
		}},
		{"a soak", Quick{Cmds: []string{"srv {port}"}}, Flags{Soak: "4x1m"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _, err := tt.q.Scenario("quick.yaml", tt.f)
			if err != nil {
				t.Fatal(err)
			}
			back, err := Parse("quick.yaml", s.YAML())
			if err != nil {
				t.Fatalf("%v\n%s", err, s.YAML())
			}
			ignore := cmp.Options{cmpopts.IgnoreUnexported(Scenario{}), cmpopts.IgnoreFields(Scenario{}, "SHA256"), cmpopts.IgnoreFields(Gate{}, "File", "Rules")}
			if d := cmp.Diff(s, back, ignore); d != "" {
				t.Errorf("parsed back (-made +read):\n%s\n%s", d, s.YAML())
			}
			if !slices.EqualFunc(s.Gate.Rules, back.Gate.Rules, func(a, b Rule) bool { a.Line, b.Line = 0, 0; return a == b }) {
				t.Errorf("rules %+v read back as %+v", s.Gate.Rules, back.Gate.Rules)
			}
		})
	}
}

// A quick run is named by --name, else by a single command's name=.
func TestQuickRunName(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		q    Quick
		want string
	}{
		{Quick{Cmds: []string{"api=node s.js {port}"}}, "api"},
		{Quick{Name: "mine", Cmds: []string{"api=node s.js {port}"}}, "mine"},
		{Quick{Cmds: []string{"PORT={port} node s.js"}}, "my-server"},
		{Quick{Cmds: []string{"a=x {port}", "b=y {port}"}}, "my-server"},
		{Quick{}, "reference"},
	} {
		if got := tt.q.RunName(); got != tt.want {
			t.Errorf("%+v.RunName() = %q, want %q", tt.q, got, tt.want)
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
