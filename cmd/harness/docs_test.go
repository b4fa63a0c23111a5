package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
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

// docs/architecture.md says what a room owns alone — paths under /proc,
// the cgroup filesystem, os.Exit, the plotting and YAML libraries — and
// nothing outside those rooms may touch them.
func TestArchitectureDocOwnership(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/architecture.md")
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| (paths under|calls to|imports of) `([^`]+)` \\| (.*) \\|$")
	rules := row.FindAllStringSubmatch(string(doc), -1)
	if len(rules) < 5 {
		t.Fatalf("docs/architecture.md holds %d ownership rules, want its table", len(rules))
	}
	pkgs := map[string][]*ast.File{}
	fset := token.NewFileSet()
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "xk6" || d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) && path != "../.." {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel("../..", filepath.Dir(path))
		pkgs[rel] = append(pkgs[rel], f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rules {
		kind, what := r[1], r[2]
		allowed := map[string]bool{}
		for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(r[3], -1) {
			allowed[m[1]] = true
		}
		for pkg, files := range pkgs {
			if allowed[pkg] {
				continue
			}
			for _, f := range files {
				ast.Inspect(f, func(n ast.Node) bool {
					found := false
					switch n := n.(type) {
					case *ast.ImportSpec:
						found = kind == "imports of" && strings.HasPrefix(strings.Trim(n.Path.Value, `"`), what)
					case *ast.BasicLit:
						found = kind == "paths under" && n.Kind == token.STRING && strings.HasPrefix(strings.Trim(n.Value, "`\""), what)
					case *ast.SelectorExpr:
						x, ok := n.X.(*ast.Ident)
						found = kind == "calls to" && ok && x.Name+"."+n.Sel.Name == what
					}
					if found {
						t.Errorf("%s: %s %s, which docs/architecture.md gives only to %s", fset.Position(n.Pos()), kind, what, r[3])
					}
					return true
				})
			}
		}
	}
}
