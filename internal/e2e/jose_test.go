package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/token"
)

// joseVerify runs examples/ts/jwks-verify.mjs: the jose package's
// createRemoteJWKSet and jwtVerify, against srv's JWKS. It returns the
// verified header and claims, or the error code jose gave.
func joseVerify(t *testing.T, srv *apptest.Server, tok string) (header, claims map[string]any, errCode string) {
	t.Helper()
	dir, node := apptest.NodeTools(t)
	cmd := exec.Command(node, filepath.Join(dir, "jwks-verify.mjs"), srv.HTTP.URL+"/.well-known/jwks.json",
		srv.Config.JWTIssuer, srv.Config.JWTAudience, tok)
	cmd.Dir = dir
	out, err := cmd.Output()
	var res struct {
		ProtectedHeader map[string]any `json:"protectedHeader"`
		Payload         map[string]any `json:"payload"`
		Error           string         `json:"error"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil {
		t.Fatalf("jwks-verify.mjs: %v: %s", err, out)
	}
	if (err == nil) == (res.Error != "") {
		t.Fatalf("jwks-verify.mjs: exit %v with output %s", err, out)
	}
	return res.ProtectedHeader, res.Payload, res.Error
}

// TestJoseVerifiesTokens: a JWKS client nobody here wrote, the jose npm
// package in node, verifies gqlauth's tokens from the live JWKS for each
// asymmetric algorithm, and refuses a forged one and one of a revoked key.
func TestJoseVerifiesTokens(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], nil)
	apptest.NodeTools(t)
	var old string
	var oldKID string
	for _, alg := range []token.Algorithm{token.ES256, token.EdDSA, token.RS256} {
		key := rotateTo(t, srv, alg)
		p := srv.Client().SignUp(t, apptest.UniqueEmail("jose"), "correct horse")
		h, c, code := joseVerify(t, srv, p.AccessToken)
		if code != "" || h["alg"] != string(alg) || h["kid"] != key.ID || c["sub"] != p.User.ID || c["client_id"] != "gqlauth" {
			t.Fatalf("%s: jose said %q, header %v, claims %v", alg, code, h, c)
		}
		if old == "" {
			old, oldKID = p.AccessToken, key.ID
		}
	}
	forged, _, _ := otherIssuer(t, token.ES256).Issue(token.Subject{UserID: uuid.New(), SessionID: uuid.New(), Role: "ADMIN"})
	if _, _, code := joseVerify(t, srv, forged); code != "ERR_JWKS_NO_MATCHING_KEY" {
		t.Fatalf("forged token: jose said %q", code)
	}
	if _, err := srv.KeyStore.Revoke(context.Background(), oldKID); err != nil {
		t.Fatal(err)
	}
	if err := srv.Keys.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, code := joseVerify(t, srv, old); code != "ERR_JWKS_NO_MATCHING_KEY" {
		t.Fatalf("revoked key's token: jose said %q", code)
	}
}
