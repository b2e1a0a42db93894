package apptest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// NodeTools returns the folder of the pinned JavaScript tooling
// (examples/ts, installed by `make node-tools`, i.e. `npm ci`) and the
// path of node. Tests that run a real JavaScript client (GraphiQL, GraphQL
// Code Generator, the graphql-http audit) call it; without node or the
// installed packages they skip, except under CI=true, where they fail.
func NodeTools(t testing.TB) (dir, node string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir = filepath.Join(filepath.Dir(file), "..", "..", "examples", "ts")
	node, err := exec.LookPath("node")
	if err != nil {
		unavailable(t, "node (Debian's nodejs)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", ".package-lock.json")); err != nil {
		unavailable(t, "examples/ts/node_modules (run `make node-tools`)", err)
	}
	return dir, node
}
