package e2e

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// walkthroughBlocks returns the ```sh blocks of README.md between the
// walkthrough comment and its closing comment.
func walkthroughBlocks(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, "<!-- walkthrough:")
	end := strings.Index(readme, "<!-- /walkthrough -->")
	if start < 0 || end < start {
		t.Fatal("README.md has no <!-- walkthrough: … --> … <!-- /walkthrough --> section")
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(readme[start:end], -1) {
		blocks = append(blocks, m[1])
	}
	return blocks
}

// TestREADMEWalkthrough runs the README's walkthrough as a reader would
// paste it: every block in one bash, against a live gqlauth (GQLAUTH),
// and checks what each step prints: sign-up, me, a refresh with the
// token in the body, one through the cookie and the CSRF header, logout,
// the access token refused after it, and a new sign-in.
func TestREADMEWalkthrough(t *testing.T) {
	for _, tool := range []string{"bash", "curl", "grep", "awk", "cut"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required when CI=true: %v", tool, err)
			}
			t.Skipf("%s not installed, skipping (CI=true makes this a failure): %v", tool, err)
		}
	}
	blocks := walkthroughBlocks(t)
	srv := apptest.New(t, apptest.Backends[0], nil)

	const marker = "\n--- next block ---\n"
	script := "set -euo pipefail\n" + strings.Join(blocks, "printf '"+strings.ReplaceAll(marker, "\n", `\n`)+"'\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GQLAUTH="+srv.HTTP.URL)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the walkthrough failed: %v\n%s", err, out)
	}
	outputs := strings.Split(string(out), marker)
	if len(outputs) != len(blocks) {
		t.Fatalf("%d blocks printed %d outputs:\n%s", len(blocks), len(outputs), out)
	}

	// What the steps print, in order; each expectation is met by a later
	// block than the one before.
	want := []struct{ what, pattern string }{
		{"sign-up", `"signUp":\{"accessToken":"ey[^"]+","refreshToken":"[^"]+","expiresIn":900,"user":\{"id":"[^"]+","email":"ada@example.com"\}\}`},
		{"me", `"me":\{"id":"[^"]+","email":"ada@example.com","role":"USER"\}`},
		{"refresh with the token in the body", `"refresh":\{"accessToken":"ey[^"]+","refreshToken":"[^"]+"\}`},
		{"refresh through the cookie", `"refresh":\{"accessToken":"ey[^"]+","expiresIn":900\}`},
		{"logout, then me refused", `(?s)\{"data":\{"logout":true\}\}.*"code":"UNAUTHENTICATED"`},
		{"a new sign-in", `"signIn":\{"accessToken":"ey[^"]+","expiresIn":900\}`},
	}
	i := 0
	for _, w := range want {
		re := regexp.MustCompile(w.pattern)
		for i < len(outputs) && !re.MatchString(outputs[i]) {
			i++
		}
		if i == len(outputs) {
			t.Fatalf("no block after the previous step printed the %s (%s):\n%s", w.what, w.pattern, out)
		}
		i++
	}
	if n := strings.Count(string(out), `"errors"`); n != 1 {
		t.Errorf("the walkthrough printed %d errors, want only the refused me:\n%s", n, out)
	}

	// The server really ended the session, and a new one started.
	users, tokens := countRows(t, srv)
	if users != 1 || tokens < 4 {
		t.Errorf("after the walkthrough: %d users, %d refresh tokens", users, tokens)
	}
}

// TestREADMESaysHowToRunTheCommand checks the README never tells a reader
// to run `gqlauth user …` as if the binary were on the PATH of a clone.
func TestREADMESaysHowToRunTheCommand(t *testing.T) {
	raw, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for n, line := range strings.Split(string(raw), "\n") {
		if regexp.MustCompile(`(^|[|;&]\s*|^\s*\$\s*)gqlauth (user|serve)\b`).MatchString(line) {
			t.Errorf("README.md:%d runs gqlauth as if it were on the PATH: %s", n+1, line)
		}
	}
}
