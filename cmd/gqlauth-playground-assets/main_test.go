package main

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestCopyIsReproducible copies the assets from the installed pinned
// packages into an empty folder holding a stale file, and compares the
// result with the committed internal/server/playground/dist: the same
// files, byte for byte, and the stale one gone.
func TestCopyIsReproducible(t *testing.T) {
	dir, _ := apptest.NodeTools(t)
	out := t.TempDir()
	stale := filepath.Join(out, "graphiql-3.0.0", "graphiql.min.js")
	if err := os.MkdirAll(filepath.Dir(stale), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyAssets(filepath.Join(dir, "node_modules"), out); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(stale)); !os.IsNotExist(err) {
		t.Errorf("the stale folder is still there: %v", err)
	}
	committed := filepath.Join("..", "..", "internal", "server", "playground", "dist")
	got, want := files(t, out), files(t, committed)
	if strings.Join(keys(got), " ") != strings.Join(keys(want), " ") {
		t.Fatalf("copied %v, committed %v", keys(got), keys(want))
	}
	for name, data := range want {
		if !bytes.Equal(got[name], data) {
			t.Errorf("%s differs from the committed copy: run make generate", name)
		}
	}
}

// TestCopyRefusesAnotherVersion checks a package at another version than
// playground.Assets pins stops the copy.
func TestCopyRefusesAnotherVersion(t *testing.T) {
	nm := t.TempDir()
	if err := os.MkdirAll(filepath.Join(nm, "react"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(nm, "react", "package.json"), []byte(`{"version": "19.0.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	err := copyAssets(nm, t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "react is 19.0.0 in node_modules, playground.Assets pins 18.2.0") {
		t.Fatalf("got %v", err)
	}
}

func files(t *testing.T, root string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out[filepath.ToSlash(rel)], err = os.ReadFile(p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
