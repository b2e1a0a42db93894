package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// TestREADMESaysHowToRunTheCommand checks the README and docs/ never tell
// a reader to run `gqlauth user …` as if the binary were on the PATH of a
// clone.
func TestREADMESaysHowToRunTheCommand(t *testing.T) {
	for page, text := range readmeAndDocs(t) {
		for n, line := range strings.Split(text, "\n") {
			if regexp.MustCompile(`(^|[|;&]\s*|^\s*\$\s*)gqlauth (user|serve)\b`).MatchString(line) {
				t.Errorf("%s:%d runs gqlauth as if it were on the PATH: %s", page, n+1, line)
			}
		}
	}
}

// readmeAndDocs returns README.md and every page of docs/, by path from
// the repository's root.
func readmeAndDocs(t *testing.T) map[string]string {
	t.Helper()
	pages, err := filepath.Glob("../../docs/*.md")
	if err != nil || len(pages) == 0 {
		t.Fatalf("no pages in docs/: %v", err)
	}
	out := map[string]string{}
	for _, p := range append(pages, "../../README.md") {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[strings.TrimPrefix(p, "../../")] = string(raw)
	}
	return out
}

// anchors returns the ids GitHub gives the headings of a Markdown page:
// lower case, punctuation dropped, spaces as hyphens, a repeated heading
// numbered. Headings inside code blocks do not count.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	inCode := false
	drop := regexp.MustCompile(`[^\p{L}\p{N} _-]`)
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		heading := strings.TrimSpace(strings.TrimLeft(line, "#"))
		id := strings.ReplaceAll(drop.ReplaceAllString(strings.ToLower(heading), ""), " ", "-")
		for n, base := 1, id; out[id]; n++ {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		out[id] = true
	}
	return out
}

// TestREADMEAndDocsLinksResolve checks every relative link of README.md
// and docs/: the file it names exists, and the heading its #fragment
// names is on that page.
func TestREADMEAndDocsLinksResolve(t *testing.T) {
	pages := readmeAndDocs(t)
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	links := 0
	for page, text := range pages {
		for _, m := range link.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			links++
			file, fragment, _ := strings.Cut(target, "#")
			path := page
			if file != "" {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(page), file))
				if _, err := os.Stat(filepath.Join("../..", path)); err != nil {
					t.Errorf("%s links to %s: %v", page, target, err)
					continue
				}
			}
			if fragment == "" {
				continue
			}
			text, ok := pages[path]
			if !ok {
				t.Errorf("%s links to %s: a fragment of a page that is not README.md or docs/*.md", page, target)
				continue
			}
			if !anchors(text)[fragment] {
				t.Errorf("%s links to %s: %s has no such heading", page, target, path)
			}
		}
	}
	if links < 10 {
		t.Fatalf("found %d relative links; the link pattern is broken", links)
	}
}
