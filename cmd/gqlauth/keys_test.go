package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/auditevent"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/database"
)

// instance is one `gqlauth serve` process of a test.
type instance struct {
	url  string
	logs *apptest.SyncBuffer
	// stop ends the process (SIGTERM) and waits for it.
	stop func()
}

// startServe runs `gqlauth serve` in env on a free port until the test
// ends, and waits until it answers /healthz.
func startServe(t *testing.T, env []string) *instance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cmd := exec.Command(gqlauthBinary, "serve")
	cmd.Dir = t.TempDir()
	cmd.Env = append(slices.Clone(env), "PORT="+strconv.Itoa(port))
	logs := &apptest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	t.Cleanup(stop)
	in := &instance{url: "http://127.0.0.1:" + strconv.Itoa(port), logs: logs, stop: stop}
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := http.Get(in.url + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return in
			}
		}
		select {
		case <-done:
			t.Fatalf("gqlauth serve exited: %s", logs.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("gqlauth serve did not answer: %s", logs.String())
		}
	}
}

// signUp makes an account on in and returns its access token.
func (in *instance) signUp(t *testing.T) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"query":     `mutation($in: SignUpInput!) { signUp(input: $in) { accessToken } }`,
		"variables": map[string]any{"in": map[string]any{"email": apptest.UniqueEmail("keys"), "password": "correct horse"}},
	})
	res, err := http.Post(in.url+"/graphql", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data struct{ SignUp struct{ AccessToken string } }
	}
	raw, _ := io.ReadAll(res.Body)
	if err := json.Unmarshal(raw, &out); err != nil || out.Data.SignUp.AccessToken == "" {
		t.Fatalf("signUp: %s", raw)
	}
	return out.Data.SignUp.AccessToken
}

// accepts reports whether in's /auth/verify accepts tok (200) or refuses
// it (401); anything else fails the test.
func (in *instance) accepts(t *testing.T, tok string) bool {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, in.url+"/auth/verify", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	switch res.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("/auth/verify answered %d", res.StatusCode)
	return false
}

// jwksKIDs are the kids in's JWKS publishes.
func (in *instance) jwksKIDs(t *testing.T) []string {
	t.Helper()
	res, err := http.Get(in.url + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct{ Keys []struct{ Kid string } }
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range doc.Keys {
		out = append(out, k.Kid)
	}
	return out
}

// kidOf reads the kid of a JWT's header.
func kidOf(t *testing.T, jwt string) string {
	t.Helper()
	raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(jwt, ".")[0])
	var h struct{ Kid string }
	_ = json.Unmarshal(raw, &h)
	return h.Kid
}

// within polls cond every 50ms until it holds, failing after limit; it
// returns how long it took.
func within(t *testing.T, limit time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return time.Since(start)
}

// TestKeyRotationAcrossInstances runs two `gqlauth serve` processes on one
// database and drives the rotation runbook with the real `gqlauth keys`:
// a standby key is published on both before it signs; rotate refuses it
// until JWKS_MAX_AGE has passed; after the rotation both sign with the
// new key while both keys' tokens verify; a revoked key's tokens are
// refused on both within JWT_KEYS_REFRESH_INTERVAL, and a restore undoes
// it. Refusals fail with a one-line reason.
func TestKeyRotationAcrossInstances(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		const refresh = time.Second
		cfg := apptest.Config(t, b, nil)
		env := cliEnv(cfg, "JWT_KEYS_REFRESH_INTERVAL="+refresh.String(), "JWKS_MAX_AGE=5s", "RATE_LIMIT_AUTH=0")
		keys := func(args ...string) cliResult {
			t.Helper()
			return runCLIEnv(t, env, "", append([]string{"keys"}, args...)...)
		}
		a, bb := startServe(t, env), startServe(t, env)
		both := []*instance{a, bb}

		old := a.signUp(t)
		k1 := kidOf(t, old)
		if kidOf(t, bb.signUp(t)) != k1 {
			t.Fatal("the two instances sign with different keys")
		}
		for _, in := range both {
			if !in.accepts(t, old) {
				t.Fatal("an instance refuses the other's token")
			}
		}
		if r := keys("list"); r.code != 0 || !strings.Contains(r.stdout, k1) || !strings.Contains(r.stdout, "current") {
			t.Fatalf("keys list: %d %s %s", r.code, r.stdout, r.stderr)
		}

		// A standby key: published on both, signing on neither.
		r := keys("create", "--alg", "EdDSA")
		if r.code != 0 {
			t.Fatalf("keys create: %s", r.stderr)
		}
		k2 := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0])
		created := time.Now()
		for _, in := range both {
			within(t, refresh+2*time.Second, "the standby key published", func() bool { return slices.Contains(in.jwksKIDs(t), k2) })
			if kidOf(t, in.signUp(t)) != k1 {
				t.Fatal("a standby key signs")
			}
		}
		wantFailure(t, keys("rotate"), "--force")
		time.Sleep(time.Until(created.Add(5*time.Second + 100*time.Millisecond)))
		if r := keys("rotate"); r.code != 0 || !strings.Contains(r.stdout, "current: "+k2) || !strings.Contains(r.stdout, "previous: "+k1) {
			t.Fatalf("keys rotate: %d %s %s", r.code, r.stdout, r.stderr)
		}
		var fresh string
		for _, in := range both {
			within(t, refresh+2*time.Second, "the new key signs", func() bool { fresh = in.signUp(t); return kidOf(t, fresh) == k2 })
		}
		for _, in := range both {
			if !in.accepts(t, old) || !in.accepts(t, fresh) {
				t.Fatal("during the overlap, tokens of the old or the new key are refused")
			}
		}

		// Refusals.
		wantFailure(t, keys("revoke", k2), "is current")
		wantFailure(t, keys("delete", k2), "revoke it first")
		wantFailure(t, keys("delete", k1), "revoke it first")
		wantFailure(t, keys("revoke"), "give the key id")
		wantFailure(t, keys("revoke", "nope"), "no signing key")
		wantFailure(t, keys("create", "--alg", "HS256"), "want ES256, EdDSA or RS256")
		wantFailure(t, keys("shred"), "unknown subcommand")

		// Revocation reaches both instances within the refresh interval.
		if r := keys("revoke", k1); r.code != 0 {
			t.Fatalf("keys revoke: %s", r.stderr)
		}
		for _, in := range both {
			took := within(t, refresh+time.Second, "the revoked key's token refused", func() bool { return !in.accepts(t, old) })
			t.Logf("%s refused the revoked key's token after %s", in.url, took.Round(10*time.Millisecond))
			if !in.accepts(t, fresh) {
				t.Fatal("the current key's token refused after revoking the old key")
			}
			if slices.Contains(in.jwksKIDs(t), k1) {
				t.Fatal("the revoked key is still published")
			}
		}
		if r := keys("list"); !strings.Contains(r.stdout, k1) || !strings.Contains(r.stdout, "revoked") {
			t.Fatalf("keys list after revoke: %s", r.stdout)
		}

		// Undo.
		if r := keys("restore", k1); r.code != 0 {
			t.Fatalf("keys restore: %s", r.stderr)
		}
		for _, in := range both {
			within(t, refresh+time.Second, "the restored key's token accepted", func() bool { return in.accepts(t, old) })
		}
		if r := keys("rotate", "--kid", k1); r.code != 0 || !strings.Contains(r.stdout, "current: "+k1) {
			t.Fatalf("rotate back: %s %s", r.stdout, r.stderr)
		}

		// The audit trail has each change, by the command line.
		db, err := database.Open(context.Background(), cfg.DatabaseURL, database.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		evs, err := db.Client.AuditEvent.Query().
			Where(auditevent.TypeHasPrefix("signing_key.")).
			Order(ent.Asc(auditevent.FieldID)).All(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, fmt.Sprintf("%s %s kid=%v previous=%v reason=%v", ev.Type, ev.Actor, ev.Details["kid"], ev.Details["previous_kid"], ev.Details["reason"]))
		}
		want := []string{
			fmt.Sprintf("signing_key.rotated cli kid=%s previous=%s reason=<nil>", k2, k1),
			fmt.Sprintf("signing_key.revoked cli kid=%s previous=<nil> reason=command", k1),
			fmt.Sprintf("signing_key.restored cli kid=%s previous=<nil> reason=<nil>", k1),
			fmt.Sprintf("signing_key.rotated cli kid=%s previous=%s reason=<nil>", k1, k2),
		}
		if !slices.Equal(got, want) {
			t.Fatalf("signing-key events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// TestKeysCommandDevelopmentKey: without DATA_ENCRYPTION_KEY, the
// development server and `gqlauth keys` share the key kept beside the
// SQLite file, and the server's tokens survive a restart.
func TestKeysCommandDevelopmentKey(t *testing.T) {
	dir := t.TempDir()
	env := cliEnv(&config.Config{BcryptCost: 4, DatabaseURL: "sqlite://" + dir + "/dev.db"}, "APP_ENV=development", "RATE_LIMIT_AUTH=0")
	env = slices.DeleteFunc(env, func(v string) bool { return strings.HasPrefix(v, "DATA_ENCRYPTION_KEY=") })
	srv := startServe(t, env)
	tok := srv.signUp(t)
	if !strings.Contains(srv.logs.String(), "DATA_ENCRYPTION_KEY is not set") {
		t.Fatalf("no warning about the generated data key: %s", srv.logs.String())
	}
	r := runCLIEnv(t, env, "", "keys", "list")
	if r.code != 0 || !strings.Contains(r.stdout, kidOf(t, tok)) {
		t.Fatalf("keys list with the development key: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runCLIEnv(t, env, "", "keys", "create"); r.code != 0 {
		t.Fatalf("keys create with the development key: %s", r.stderr)
	}
	// A restart keeps the key: the token still verifies.
	srv.stop()
	again := startServe(t, env)
	if !again.accepts(t, tok) {
		t.Fatal("a development restart lost the signing key")
	}
}
