package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Khan/genqlient/generate"
	"github.com/Khan/genqlient/graphql"

	"github.com/gqlauth/gqlauth/examples/codegen/gqlauthclient"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// TestGeneratedClientIsCurrent regenerates the client from the published
// SDL (graph/schema.graphql) and operations.graphql, and compares it with
// the committed one: a schema change that breaks the operations fails
// here, and so does a forgotten `make generate`.
func TestGeneratedClientIsCurrent(t *testing.T) {
	cfg, err := generate.ReadAndValidateConfig("genqlient.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files, err := generate.Generate(cfg)
	if err != nil {
		t.Fatalf("genqlient cannot generate the client from the published SDL: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("genqlient generated nothing")
	}
	for name, want := range files {
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			rel, _ := filepath.Rel(".", name)
			t.Errorf("%s is out of date: run make generate", rel)
		}
	}
}

// TestGeneratedClientAgainstServer runs the example against a live
// gqlauth: signUp, me, refresh, logout, then checks with the same typed
// client that the ended session's tokens no longer work.
func TestGeneratedClientAgainstServer(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		email := apptest.UniqueEmail("codegen")
		var out bytes.Buffer
		ended, err := run(ctx, srv.URL(), srv.HTTP.Client(), email, "correct horse battery", &out)
		if err != nil {
			t.Fatalf("example failed: %v\noutput so far:\n%s", err, out.String())
		}
		for _, want := range []string{"signed up as " + email, "me: " + email, "refreshed: new access token valid for 900s", "logged out: true"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}

		old := graphql.NewClient(srv.URL(), &bearerClient{http: srv.HTTP.Client(), accessToken: ended.AccessToken})
		if _, err := gqlauthclient.Me(ctx, old); errorCode(err) != "UNAUTHENTICATED" {
			t.Errorf("me with the logged-out access token: %v, want UNAUTHENTICATED", err)
		}
		anon := graphql.NewClient(srv.URL(), srv.HTTP.Client())
		if _, err := gqlauthclient.Refresh(ctx, anon, ended.RefreshToken); errorCode(err) != "UNAUTHENTICATED" {
			t.Errorf("refresh with the logged-out refresh token: %v, want UNAUTHENTICATED", err)
		}
		// The same account signs in again through the typed client.
		in, err := gqlauthclient.SignIn(ctx, anon, gqlauthclient.SignInInput{Email: &email, Password: "correct horse battery"})
		if err != nil || in.SignIn.AccessToken == "" || deref(in.SignIn.User.Email) != email {
			t.Errorf("signIn after logout: %+v, %v", in, err)
		}
	})
}
