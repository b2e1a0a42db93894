package server

import "net/http"

// fixedHeaders are response header values gqlauth sets on every request
// of a hot path, built once: setting them is then a map assignment, not a
// key canonicalization and a new one-element slice per response. Each
// slice has no spare capacity, so that a later Header.Add copies it
// instead of writing into the shared array.
type fixedHeaders []fixedHeader

type fixedHeader struct {
	key   string // canonical (textproto.CanonicalMIMEHeaderKey)
	value []string
}

func fixed(pairs ...string) fixedHeaders {
	h := make(fixedHeaders, 0, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		h = append(h, fixedHeader{http.CanonicalHeaderKey(pairs[i]), []string{pairs[i+1]}})
	}
	return h
}

// setOn sets the headers on h, replacing any value they had.
func (f fixedHeaders) setOn(h http.Header) {
	for _, kv := range f {
		h[kv.key] = kv.value
	}
}

var (
	// securityHeaderValues are what securityHeaders sets. The CSP allows
	// scripts from gqlauth itself only (the playground's GraphiQL is
	// served from /playground/), and inline styles, which GraphiQL sets.
	securityHeaderValues = fixed(
		"X-Content-Type-Options", "nosniff",
		"Referrer-Policy", "no-referrer",
		"X-Frame-Options", "DENY",
		"Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
	)
	noStoreHeader = fixed("Cache-Control", "no-store")
	// graphQLBodyHeaders are the headers of a GraphQL response body, per
	// media type.
	graphQLBodyHeaders = map[string]fixedHeaders{
		mediaGraphQLResponse: fixed("Content-Type", mediaGraphQLResponse+"; charset=utf-8", "Cache-Control", "no-store"),
		mediaJSON:            fixed("Content-Type", mediaJSON+"; charset=utf-8", "Cache-Control", "no-store"),
	}
)
