package config_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/config"
)

// root is the repository, seen from this package's directory.
const root = "../.."

// configVars returns the variables config.Config reads: the names of its
// env tags, nested structs included (with their envPrefix).
func configVars(t reflect.Type, prefix string) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		name, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if ft.Kind() == reflect.Struct && name == "" && ft.PkgPath() != "time" {
			out = append(out, configVars(ft, prefix+f.Tag.Get("envPrefix"))...)
			continue
		}
		if name != "" && name != "-" {
			out = append(out, prefix+name)
		}
	}
	return out
}

// toolVars returns the variables the rest of the code reads: tests,
// benchmarks, generators and examples (os.Getenv, os.LookupEnv, the
// bench's envOr, process.env in the TypeScript example). PATH and HOME
// are only handed on to child processes.
func toolVars(t *testing.T) []string {
	t.Helper()
	goRead := regexp.MustCompile(`(?:os\.Getenv|os\.LookupEnv|envOr)\("([A-Z][A-Z0-9_]*)"`)
	jsRead := regexp.MustCompile(`process\.env\.([A-Z][A-Z0-9_]*)`)
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch d.Name() {
			case ".git", "node_modules", "dist", "gql":
				return filepath.SkipDir
			}
			return nil
		}
		var re *regexp.Regexp
		switch filepath.Ext(path) {
		case ".go":
			re = goRead
		case ".ts", ".js":
			re = jsRead
		default:
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			seen[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	delete(seen, "PATH")
	delete(seen, "HOME")
	var out []string
	for name := range seen {
		out = append(out, name)
	}
	slices.Sort(out)
	return out
}

// variableRow is a table row that names a variable in its first cell.
var variableRow = regexp.MustCompile("^\\| *`([A-Z][A-Z0-9_]*)` *\\|")

// tableOf returns the variables the rows of a page's section (from its
// "## heading" to the next heading of that level) name.
func tableOf(t *testing.T, page, text, heading string) []string {
	t.Helper()
	_, section, ok := strings.Cut(text, "\n## "+heading+"\n")
	if !ok {
		t.Fatalf("%s has no %q section", page, "## "+heading)
	}
	if end := strings.Index(section, "\n## "); end >= 0 {
		section = section[:end]
	}
	var out []string
	for _, line := range strings.Split(section, "\n") {
		if m := variableRow.FindStringSubmatch(line); m != nil {
			out = append(out, m[1])
		}
	}
	return out
}

// compare reports the names of want missing from got, the names of got
// not in want, and the names got lists twice.
func compare(t *testing.T, what string, got, want []string) {
	t.Helper()
	counts := map[string]int{}
	for _, n := range got {
		counts[n]++
	}
	for _, n := range want {
		if counts[n] == 0 {
			t.Errorf("%s lacks %s", what, n)
		}
	}
	for n, c := range counts {
		switch {
		case !slices.Contains(want, n):
			t.Errorf("%s lists %s, which nothing reads", what, n)
		case c > 1:
			t.Errorf("%s lists %s %d times", what, n, c)
		}
	}
}

// TestREADMEConfigurationIsComplete checks that README.md's configuration
// table lists exactly the variables config.Config reads, and the table of
// the tests' and tools' variables in docs/development.md exactly those the
// rest of the code reads, so that neither can drift from the code; and that every other
// table of variables, in README.md or docs/, names only variables that
// something reads.
func TestREADMEConfigurationIsComplete(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := configVars(reflect.TypeOf(config.Config{}), "")
	if len(cfg) < 40 {
		t.Fatalf("config.Config has %d env tags; the reflection walk is broken", len(cfg))
	}
	var tools []string
	for _, n := range toolVars(t) {
		if !slices.Contains(cfg, n) {
			tools = append(tools, n)
		}
	}
	dev, err := os.ReadFile(filepath.Join(root, "docs", "development.md"))
	if err != nil {
		t.Fatal(err)
	}
	server := tableOf(t, "README.md", string(raw), "Configuration")
	toolRows := tableOf(t, "docs/development.md", string(dev), "Variables of the tests and tools")
	compare(t, "README.md's configuration table", server, cfg)
	compare(t, "docs/development.md's table of the tests' and tools' variables", toolRows, tools)

	// Tables of settings elsewhere (a page's own "Settings") may repeat
	// some variables, but never one that nothing reads.
	known := append(slices.Clone(cfg), tools...)
	pages, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	for _, page := range append(pages, filepath.Join(root, "README.md")) {
		text, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		for n, line := range strings.Split(string(text), "\n") {
			if m := variableRow.FindStringSubmatch(line); m != nil && !slices.Contains(known, m[1]) && isVariableTable(string(text), n) {
				t.Errorf("%s:%d lists %s, which nothing reads", filepath.Base(page), n+1, m[1])
			}
		}
	}
}

// isVariableTable reports whether line n of text belongs to a table whose
// header's first cell is "variable".
func isVariableTable(text string, n int) bool {
	lines := strings.Split(text, "\n")
	for ; n >= 0 && strings.HasPrefix(lines[n], "|"); n-- {
	}
	if n+1 >= len(lines) {
		return false
	}
	header := strings.Trim(lines[n+1], "| ")
	return strings.HasPrefix(strings.ToLower(header), "variable ")
}
