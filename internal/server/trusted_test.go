package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gqlauth/gqlauth/internal/config"
)

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func writeManifest(t *testing.T, m map[string]string) string {
	t.Helper()
	raw, _ := json.Marshal(m)
	path := filepath.Join(t.TempDir(), "persisted-documents.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestLoadTrustedDocumentsChecksHashes checks that a manifest whose ids
// are not the SHA-256 of their documents stops the start, with a message
// that names the file and the id.
func TestLoadTrustedDocumentsChecksHashes(t *testing.T) {
	const doc = "query Me { me { id } }"
	good := writeManifest(t, map[string]string{"sha256:" + sha256Hex(doc): doc})
	docs, err := LoadTrustedDocuments(good, config.TrustedEnforce)
	if err != nil || docs.Len() != 1 {
		t.Fatalf("a good manifest: %v, %d documents", err, docs.Len())
	}
	if docs, err := LoadTrustedDocuments(good, config.TrustedOff); docs != nil || err != nil {
		t.Fatalf("mode off must load nothing: %v %v", docs, err)
	}
	edited := "sha256:" + sha256Hex(doc)
	for name, tc := range map[string]struct {
		path string
		want string
	}{
		"edited document": {writeManifest(t, map[string]string{edited: "query Me { me { id email } }"}), "does not match"},
		"sha1 id":         {writeManifest(t, map[string]string{"da39a3ee5e6b4b0d3255bfef95601890afd80709": doc}), "not a SHA-256"},
		"upper-case id":   {writeManifest(t, map[string]string{strings.ToUpper(sha256Hex(doc)): doc}), "not a SHA-256"},
		"empty":           {writeManifest(t, map[string]string{}), "no documents"},
		"missing file":    {filepath.Join(t.TempDir(), "nope.json"), "no such file"},
	} {
		_, err := LoadTrustedDocuments(tc.path, config.TrustedAllow)
		if err == nil || !strings.HasPrefix(err.Error(), "TRUSTED_DOCUMENTS: ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want TRUSTED_DOCUMENTS: … %s", name, err, tc.want)
		}
	}
	notJSON := filepath.Join(t.TempDir(), "docs.json")
	_ = os.WriteFile(notJSON, []byte(`["query { me { id } }"]`), 0o600)
	if _, err := LoadTrustedDocuments(notJSON, config.TrustedAllow); err == nil || !strings.Contains(err.Error(), "not a JSON object") {
		t.Errorf("an array manifest: %v", err)
	}
}

// TestTrustedDocumentsResolve checks which requests run which document
// in each mode.
func TestTrustedDocumentsResolve(t *testing.T) {
	const doc = "query Me { me { id } }"
	id := "sha256:" + sha256Hex(doc)
	path := writeManifest(t, map[string]string{id: doc})
	allow, _ := LoadTrustedDocuments(path, config.TrustedAllow)
	enforce, _ := LoadTrustedDocuments(path, config.TrustedEnforce)
	apq := func(hash string) map[string]any {
		return map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hash}}
	}
	unknown := "sha256:" + sha256Hex("query Other { me { email } }")
	for _, tc := range []struct {
		name  string
		docs  *TrustedDocuments
		req   graphQLRequest
		query string // the document that runs
		code  string // or the refusal
	}{
		{"off: raw query", nil, graphQLRequest{Query: "{ a }"}, "{ a }", ""},
		{"off: id only", nil, graphQLRequest{DocumentID: id}, "", CodePersistedQueryNotSupported},
		{"allow: raw query", allow, graphQLRequest{Query: "{ a }"}, "{ a }", ""},
		{"allow: documentId", allow, graphQLRequest{DocumentID: id}, doc, ""},
		{"allow: bare hex documentId", allow, graphQLRequest{DocumentID: strings.TrimPrefix(id, "sha256:")}, doc, ""},
		{"allow: Apollo hash", allow, graphQLRequest{Extensions: apq(strings.TrimPrefix(id, "sha256:"))}, doc, ""},
		{"allow: unknown id", allow, graphQLRequest{DocumentID: unknown}, "", CodePersistedQueryNotFound},
		{"allow: unknown Apollo hash with its text", allow, graphQLRequest{Query: "{ b }", Extensions: apq(sha256Hex("{ b }"))}, "{ b }", ""},
		{"enforce: raw query", enforce, graphQLRequest{Query: "{ a }"}, "", CodePersistedQueryOnly},
		{"enforce: documentId", enforce, graphQLRequest{DocumentID: id}, doc, ""},
		{"enforce: known id with other text", enforce, graphQLRequest{DocumentID: id, Query: "{ evil }"}, doc, ""},
		{"enforce: unknown id with its text", enforce, graphQLRequest{DocumentID: unknown, Query: "{ b }"}, "", CodePersistedQueryNotFound},
		{"enforce: unknown Apollo hash", enforce, graphQLRequest{Extensions: apq(sha256Hex("{ b }"))}, "", CodePersistedQueryNotFound},
	} {
		p := &graphql.RawParams{Query: tc.req.Query}
		err := tc.docs.resolve(&tc.req, p)
		switch {
		case tc.code != "" && (err == nil || err.Extensions["code"] != tc.code):
			t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
		case tc.code == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.code == "" && p.Query != tc.query:
			t.Errorf("%s: runs %q, want %q", tc.name, p.Query, tc.query)
		}
	}
}
