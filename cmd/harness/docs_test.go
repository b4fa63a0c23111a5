package main

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// docs/architecture.md lists every package of the module with the
// module's packages it imports: the layout a newcomer reads is the one
// the code has.
func TestArchitectureDocMatchesImports(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	const mod = "github.com/floodharness/harness/"
	cmd := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}", "./...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([^`]+)` \\| ([^|]*) \\|")
	documented := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(doc), -1) {
		documented[m[1]] = strings.TrimSpace(m[2])
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, imports, _ := strings.Cut(line, "|")
		pkg = strings.TrimPrefix(pkg, mod)
		var ours []string
		for _, i := range strings.Fields(imports) {
			if strings.HasPrefix(i, mod) {
				ours = append(ours, strings.TrimPrefix(i, mod))
			}
		}
		slices.Sort(ours)
		for i := range ours {
			ours[i] = "`" + ours[i] + "`"
		}
		want := strings.Join(ours, ", ")
		if want == "" {
			want = "—"
		}
		got, ok := documented[pkg]
		switch {
		case !ok:
			t.Errorf("docs/architecture.md does not list package %s (imports %s)", pkg, want)
		case got != want:
			t.Errorf("docs/architecture.md: %s imports %s, the doc says %s", pkg, want, got)
		}
		delete(documented, pkg)
	}
	for pkg := range documented {
		t.Errorf("docs/architecture.md lists %s, which is no package of the module", pkg)
	}
}
