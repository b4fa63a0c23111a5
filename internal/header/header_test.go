package header

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in, name, value, err string
	}{
		{"Authorization: Bearer ${TOKEN}", "Authorization", "Bearer ${TOKEN}", ""},
		{"  X-A :  1 ", "X-A", "1", ""},
		{"X-Empty:", "X-Empty", "", ""},
		{"no colon", "", "", "want 'Name: value'"},
		{": v", "", "", "want 'Name: value'"},
		{"Bad Name: v", "", "", "want a token"},
		{"X-A: a\nb", "", "", "newline"},
		{"X-A: ${1X}", "", "", "want ${NAME}"},
	} {
		name, value, err := Parse(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%q) = %v, want an error saying %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || name != tt.name || value != tt.value {
			t.Errorf("Parse(%q) = %q, %q, %v; want %q, %q", tt.in, name, value, err, tt.name, tt.value)
		}
	}
}

func TestLookupAndExpand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"A": "x", "B": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	if got, err := Lookup("${A}-${B}", lookup); err != nil || got != "x-" {
		t.Errorf("Lookup = %q, %v", got, err)
	}
	if _, err := Lookup("Bearer ${UNSET}", lookup); err == nil || !strings.Contains(err.Error(), "${UNSET} is not set") {
		t.Errorf("Lookup of an unset name: %v", err)
	}
	if got := Expand("Bearer ${A}", map[string]string{"${A}": "s"}); got != "Bearer s" {
		t.Errorf("Expand = %q", got)
	}
	if r := Refs("${A} and ${B_2}"); len(r) != 2 || r[1] != [2]string{"${B_2}", "B_2"} {
		t.Errorf("Refs = %v", r)
	}
}

// Whatever Parse accepts is one header line: no newline can smuggle in a
// second header, and the name is a token.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"A: b", "Authorization: Bearer ${T}", "x:\r\ny: z", ": :", "a b: c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, value, err := Parse(s)
		if err != nil {
			return
		}
		if strings.ContainsAny(name+value, "\r\n") || !validName(name) || strings.ContainsAny(name, " :") {
			t.Errorf("Parse(%q) accepted %q: %q", s, name, value)
		}
	})
}

// Every ${login.NAME} found is in the value as written, and expanding
// them all leaves none; the environment's expansion keeps them all.
func FuzzLoginRefs(f *testing.F) {
	f.Add("Bearer ${login.auth.token}")
	f.Add("${A}${login.x}${login.}${login.a-b.0}")
	f.Fuzz(func(t *testing.T, v string) {
		vals := map[string]string{}
		for _, name := range LoginRefs(v) {
			if !strings.Contains(v, "${"+LoginPrefix+name+"}") {
				t.Errorf("%q: ref %q not in it", v, name)
			}
			vals[name] = "x"
		}
		if out := ExpandLogin(v, vals); len(LoginRefs(out)) > len(LoginRefs(v)) {
			t.Errorf("%q: expanded %q holds more refs", v, out)
		}
		if got := LoginRefs(Expand(v, map[string]string{})); len(got) < len(LoginRefs(v)) {
			t.Errorf("%q: the environment's expansion lost login refs: %q", v, got)
		}
	})
}
