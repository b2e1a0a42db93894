// Command gqlauth-playground-assets copies the files the playground loads
// (playground.Assets: GraphiQL, React, ReactDOM) from the pinned npm
// packages in examples/ts/node_modules (`make node-tools`) into
// internal/server/playground/dist, which gqlauth embeds. It checks each
// package's version and each file's SRI hash against playground.Assets
// and removes files no asset names, so the committed copy is exactly
// the pinned packages' files (with each package's LICENSE). `make generate` runs it; CI fails when the
// committed copy differs.
package main

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/gqlauth/gqlauth/internal/server/playground"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: gqlauth-playground-assets NODE_MODULES DIST")
		os.Exit(2)
	}
	if err := copyAssets(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "gqlauth-playground-assets:", err)
		os.Exit(1)
	}
}

func copyAssets(nodeModules, dist string) error {
	keep := map[string]bool{}
	for _, a := range playground.Assets {
		pkg := filepath.Join(nodeModules, a.Package)
		raw, err := os.ReadFile(filepath.Join(pkg, "package.json"))
		if err != nil {
			return fmt.Errorf("%w (run `make node-tools`)", err)
		}
		var meta struct{ Version string }
		if err := json.Unmarshal(raw, &meta); err != nil {
			return fmt.Errorf("%s/package.json: %w", a.Package, err)
		}
		if meta.Version != a.Version {
			return fmt.Errorf("%s is %s in node_modules, playground.Assets pins %s", a.Package, meta.Version, a.Version)
		}
		data, err := os.ReadFile(filepath.Join(pkg, filepath.FromSlash(a.File)))
		if err != nil {
			return err
		}
		if got := playground.SRI(data); got != a.SRI {
			return fmt.Errorf("%s@%s/%s has SRI %s, playground.Assets says %s", a.Package, a.Version, a.File, got, a.SRI)
		}
		out := filepath.Join(dist, filepath.FromSlash(a.Path()))
		if err := write(out, data, keep); err != nil {
			return err
		}
		// The package's license travels with its files (the minified
		// GraphiQL build carries no notice of its own).
		license, err := os.ReadFile(filepath.Join(pkg, "LICENSE"))
		if err != nil {
			return err
		}
		if err := write(filepath.Join(filepath.Dir(out), "LICENSE"), license, keep); err != nil {
			return err
		}
	}
	// Remove what an older pin left behind (empty folders included).
	var stale []string
	err := filepath.WalkDir(dist, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !keep[p] {
			stale = append(stale, p)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range stale {
		if err := os.Remove(p); err != nil {
			return err
		}
		_ = os.Remove(filepath.Dir(p)) // only succeeds once empty
	}
	return nil
}

// write writes data to a file of dist and marks it as kept.
func write(file string, data []byte, keep map[string]bool) error {
	keep[file] = true
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return err
	}
	return os.WriteFile(file, data, 0o644)
}
