package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/app"
	"github.com/gqlauth/gqlauth/internal/apptest"
)

// trustedManifest writes a persisted-documents.json of the documents, as
// GraphQL Code Generator's client preset does, and returns its path and
// the documents' ids.
func trustedManifest(t *testing.T, docs ...string) (string, []string) {
	t.Helper()
	m := map[string]string{}
	var ids []string
	for _, d := range docs {
		sum := sha256.Sum256([]byte(d))
		id := "sha256:" + hex.EncodeToString(sum[:])
		m[id] = d
		ids = append(ids, id)
	}
	raw, _ := json.Marshal(m)
	path := filepath.Join(t.TempDir(), "persisted-documents.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path, ids
}

// TestTrustedDocuments checks each TRUSTED_DOCUMENTS_MODE over HTTP: ids
// by documentId (POST and GET) and by Apollo's persistedQuery hash, raw
// documents, unknown ids, the status under each media type, a mutation
// id over GET; and that a manifest whose hash does not match its document
// stops the start.
func TestTrustedDocuments(t *testing.T) {
	const me, logout = "query Me { me { id email } }", "mutation Logout { logout }"
	manifest, ids := trustedManifest(t, me, logout)
	meID, logoutID := ids[0], ids[1]
	unknown := "sha256:" + strings.Repeat("ab", 32)

	post := func(t *testing.T, srv *apptest.Server, c *apptest.Client, accept string, body map[string]any) *apptest.Response {
		raw, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(string(raw)))
		req.Header.Set("Content-Type", "application/json")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		return c.Send(t, req)
	}
	getID := func(t *testing.T, srv *apptest.Server, c *apptest.Client, id string) *apptest.Response {
		req, _ := http.NewRequest(http.MethodGet, srv.URL()+"?documentId="+url.QueryEscape(id), nil)
		return c.Send(t, req)
	}
	const grj = "application/graphql-response+json"

	t.Run("allow", func(t *testing.T) {
		srv := apptest.New(t, apptest.Backends[0], map[string]string{"TRUSTED_DOCUMENTS": manifest, "TRUSTED_DOCUMENTS_MODE": "allow"})
		c := srv.Client()
		p := c.SignUp(t, "trusted@example.com", "correct horse") // a raw document
		for name, res := range map[string]*apptest.Response{
			"documentId":     post(t, srv, c, "", map[string]any{"documentId": meID}),
			"bare hex id":    post(t, srv, c, "", map[string]any{"documentId": strings.TrimPrefix(meID, "sha256:")}),
			"Apollo hash":    post(t, srv, c, "", map[string]any{"extensions": map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": strings.TrimPrefix(meID, "sha256:")}}}),
			"GET documentId": getID(t, srv, c, meID),
		} {
			var out struct{ Me struct{ ID string } }
			res.Decode(t, &out)
			if out.Me.ID != p.User.ID {
				t.Errorf("%s: me = %+v", name, out)
			}
		}
		checkAnswer(t, post(t, srv, c, "", map[string]any{"documentId": unknown}), 200, "application/json", "PERSISTED_QUERY_NOT_FOUND", false)
		checkAnswer(t, post(t, srv, c, grj, map[string]any{"documentId": unknown}), 400, grj, "PERSISTED_QUERY_NOT_FOUND", false)
		res := getID(t, srv, c, logoutID)
		checkAnswer(t, res, http.StatusMethodNotAllowed, "application/json", "MUTATION_NOT_ALLOWED_OVER_GET", false)
	})

	t.Run("enforce", func(t *testing.T) {
		srv := apptest.New(t, apptest.Backends[0], map[string]string{"TRUSTED_DOCUMENTS": manifest}) // enforce is the default
		c := srv.Client()
		for _, q := range []string{"{ __typename }", `{ __schema { types { name } } }`, me} {
			checkAnswer(t, post(t, srv, c, "", map[string]any{"query": q}), 200, "application/json", "PERSISTED_QUERY_ONLY", false)
			checkAnswer(t, post(t, srv, c, grj, map[string]any{"query": q}), 400, grj, "PERSISTED_QUERY_ONLY", false)
		}
		checkAnswer(t, post(t, srv, c, "", map[string]any{"documentId": unknown, "query": me}), 200, "application/json", "PERSISTED_QUERY_NOT_FOUND", false)
		// A known id runs its own document, whatever text comes along.
		res := post(t, srv, c, "", map[string]any{"documentId": logoutID, "query": "{ __typename }"})
		checkAnswer(t, res, 200, "application/json", "UNAUTHENTICATED", true)
	})

	t.Run("off", func(t *testing.T) {
		srv := apptest.New(t, apptest.Backends[0], nil)
		checkAnswer(t, post(t, srv, srv.Client(), "", map[string]any{"documentId": meID}), 200, "application/json", "PERSISTED_QUERY_NOT_SUPPORTED", false)
	})

	t.Run("a manifest that does not match stops the start", func(t *testing.T) {
		raw, _ := json.Marshal(map[string]string{meID: "query Me { me { id email role } }"})
		edited := filepath.Join(t.TempDir(), "persisted-documents.json")
		if err := os.WriteFile(edited, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := apptest.Config(t, apptest.Backends[0], map[string]string{"TRUSTED_DOCUMENTS": edited})
		a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
		if err == nil {
			a.Close()
			t.Fatal("gqlauth started with a manifest whose hash does not match its document")
		}
		if !strings.Contains(err.Error(), "TRUSTED_DOCUMENTS") || !strings.Contains(err.Error(), meID) || !strings.Contains(err.Error(), "does not match") {
			t.Fatalf("the error should name the setting, the id and the mismatch: %v", err)
		}
	})
}
