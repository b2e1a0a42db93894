package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

// TestResourceServerAgainstGqlauth runs the example against a live
// gqlauth: a token from gqlauth is accepted; after logout it is refused
// (the deny list in gqlauth's Redis); after a key rotation the old and new
// keys' tokens are both accepted; after the old key is revoked, its
// tokens are refused once the example has fetched the JWKS again.
func TestResourceServerAgainstGqlauth(t *testing.T) {
	apptest.ForEach(t, []apptest.Backend{{Name: "sqlite+redis", Redis: true}, {Name: "postgres+redis", Postgres: true, Redis: true}}, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- run(ctx, []string{"-gqlauth", srv.HTTP.URL, "-redis", srv.Config.RedisURL,
				"-redis-prefix", srv.Config.RedisKeyPrefix, "-jwks-refresh", "300ms"}, ln, io.Discard)
		}()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("resource server: %v", err)
			}
		})
		api := "http://" + ln.Addr().String()
		hello := func(tok string) (int, map[string]string) {
			t.Helper()
			req, _ := http.NewRequest(http.MethodGet, api+"/hello", nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body map[string]string
			_ = json.NewDecoder(res.Body).Decode(&body)
			return res.StatusCode, body
		}
		eventually := func(what string, cond func() bool) {
			t.Helper()
			for deadline := time.Now().Add(3 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: not within 3s", what)
				}
			}
		}

		// A token from gqlauth is accepted.
		c := srv.Client()
		email := apptest.UniqueEmail("rs")
		p := c.SignUp(t, email, "correct horse")
		if status, body := hello(p.AccessToken); status != http.StatusOK || body["user"] != p.User.ID || body["email"] != email {
			t.Fatalf("gqlauth's token: %d %v", status, body)
		}
		if status, _ := hello("not-a-token"); status != http.StatusUnauthorized {
			t.Fatalf("a bad token: %d", status)
		}

		// After logout it is refused at once.
		res := c.Do(t, `mutation { logout }`, nil)
		if len(res.Errors) > 0 {
			t.Fatalf("logout: %s", res.Body)
		}
		if status, _ := hello(p.AccessToken); status != http.StatusUnauthorized {
			t.Fatalf("after logout: %d, want 401", status)
		}

		// Rotation: a standby key is published first; once the example
		// has it, the rotation makes it sign, and both keys' tokens pass.
		ctx0 := context.Background()
		old := srv.Client().SignUp(t, apptest.UniqueEmail("rs-old"), "correct horse").AccessToken
		oldKID := srv.Keys.Current().ID
		standby, err := srv.KeyStore.Create(ctx0, token.EdDSA)
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(600 * time.Millisecond) // two JWKS refreshes of the example
		if _, err := srv.KeyStore.Rotate(ctx0, token.RotateOptions{MinPublished: 500 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		if err := srv.Keys.Reload(ctx0); err != nil {
			t.Fatal(err)
		}
		fresh := srv.Client().SignUp(t, apptest.UniqueEmail("rs-new"), "correct horse").AccessToken
		for name, tok := range map[string]string{"old key": old, "new key " + standby.ID: fresh} {
			if status, _ := hello(tok); status != http.StatusOK {
				t.Fatalf("after rotation, the %s's token: %d", name, status)
			}
		}

		// Revoking the old key: its tokens are refused once the example
		// has fetched the JWKS again; the new key's still pass.
		if _, err := srv.KeyStore.Revoke(ctx0, oldKID); err != nil {
			t.Fatal(err)
		}
		if err := srv.Keys.Reload(ctx0); err != nil {
			t.Fatal(err)
		}
		eventually("the revoked key's token refused", func() bool { s, _ := hello(old); return s == http.StatusUnauthorized })
		if status, _ := hello(fresh); status != http.StatusOK {
			t.Fatalf("the new key's token after revoking the old key: %d", status)
		}
	})
}
