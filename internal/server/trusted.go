package server

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/gqlauth/gqlauth/internal/config"
)

// The extensions.code of trusted-document refusals (docs/clients.md, "Trusted
// documents"); the names are Apollo's and GraphQL Yoga's, which clients
// already know.
const (
	CodePersistedQueryNotFound     = "PERSISTED_QUERY_NOT_FOUND"
	CodePersistedQueryOnly         = "PERSISTED_QUERY_ONLY"
	CodePersistedQueryNotSupported = "PERSISTED_QUERY_NOT_SUPPORTED"
)

// sha256Prefix starts a document id that is the SHA-256 of the document
// (GraphQL over HTTP, persisted documents appendix).
const sha256Prefix = "sha256:"

// TrustedDocuments are the GraphQL documents a deployment's own clients
// may send by id instead of by text (the GraphQL Foundation's trusted
// documents practice): a manifest of SHA-256 → document, as GraphQL Code
// Generator's client preset writes it (persisted-documents.json). In
// enforce mode nothing else runs, so a stranger cannot send a document
// of their own, however cheap or costly; in allow mode ids and raw
// documents both run. A nil *TrustedDocuments is mode off.
type TrustedDocuments struct {
	enforce bool
	docs    map[string]string // lower-case hex SHA-256 → document
}

// LoadTrustedDocuments reads the manifest at path for mode allow or
// enforce (off, or an empty path, returns nil). Every entry must be the
// SHA-256 of its document, so a stale or edited manifest stops the
// start instead of running documents nobody reviewed.
func LoadTrustedDocuments(path, mode string) (*TrustedDocuments, error) {
	if mode == config.TrustedOff || path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("TRUSTED_DOCUMENTS: %v", err)
	}
	var manifest map[string]string
	if err := json.Unmarshal(raw, &manifest); err != nil {
		return nil, fmt.Errorf("TRUSTED_DOCUMENTS: %s is not a JSON object of document id to document text: %v", path, err)
	}
	if len(manifest) == 0 {
		return nil, fmt.Errorf("TRUSTED_DOCUMENTS: %s lists no documents", path)
	}
	t := &TrustedDocuments{enforce: mode == config.TrustedEnforce, docs: make(map[string]string, len(manifest))}
	for id, doc := range manifest {
		hash := strings.TrimPrefix(id, sha256Prefix)
		if len(hash) != sha256.Size*2 || strings.ToLower(hash) != hash {
			return nil, fmt.Errorf("TRUSTED_DOCUMENTS: %s: id %.80q is not a SHA-256 in lower-case hex (generate the manifest with hashAlgorithm sha256)", path, id)
		}
		sum := sha256.Sum256([]byte(doc))
		if got := hex.EncodeToString(sum[:]); got != hash {
			return nil, fmt.Errorf("TRUSTED_DOCUMENTS: %s: the document of id %s hashes to sha256:%s; the manifest does not match its documents (regenerate it)", path, id, got)
		}
		t.docs[hash] = doc
	}
	return t, nil
}

// Len is the number of trusted documents.
func (t *TrustedDocuments) Len() int {
	if t == nil {
		return 0
	}
	return len(t.docs)
}

// resolve puts the document a request names by id into p.Query, or
// refuses the request. The id is documentId ("sha256:<hex>"), or Apollo's
// extensions.persistedQuery.sha256Hash ("<hex>"). A known id runs its
// trusted document whatever text came along; an unknown one is
// PERSISTED_QUERY_NOT_FOUND, except in allow mode when the text came
// too (Apollo's clients retry that way). In enforce mode a request
// without an id is PERSISTED_QUERY_ONLY.
func (t *TrustedDocuments) resolve(req *graphQLRequest, p *graphql.RawParams) *gqlerror.Error {
	id := req.DocumentID
	if id == "" {
		id, _ = req.persistedQueryHash()
	}
	switch {
	case t == nil:
		if id != "" && req.Query == "" {
			return trustedError(CodePersistedQueryNotSupported, "this server runs no trusted documents (TRUSTED_DOCUMENTS is off); send the document as query")
		}
		return nil
	case id == "":
		if t.enforce {
			return trustedError(CodePersistedQueryOnly, "this server runs only trusted documents; send a documentId instead of a query")
		}
		return nil
	}
	if doc, ok := t.docs[strings.TrimPrefix(id, sha256Prefix)]; ok {
		p.Query = doc
		return nil
	}
	if req.Query != "" && !t.enforce {
		return nil
	}
	return trustedError(CodePersistedQueryNotFound, "no trusted document has this id")
}

func trustedError(code, message string) *gqlerror.Error {
	return &gqlerror.Error{Message: message, Extensions: map[string]any{"code": code}}
}
