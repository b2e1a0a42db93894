package server

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// KeyPublisher is what the JWKS endpoint serves; *token.KeySet implements it.
type KeyPublisher interface {
	// JWKS is the JSON Web Key Set document and its entity tag.
	JWKS() (doc []byte, etag string)
}

// JWKSPath is where the public signing keys are published.
const JWKSPath = "/.well-known/jwks.json"

// DiscoveryPath is the RFC 8414 authorization server metadata.
const DiscoveryPath = "/.well-known/oauth-authorization-server"

// jwksHandler serves the JWKS to GET and HEAD: public, cacheable for
// maxAge (verifiers cache it; a standby key is published at least this
// long before it signs), with an ETag so that a revalidation costs a 304.
// Any origin may read it: it holds public keys only.
func jwksHandler(keys KeyPublisher, maxAge time.Duration) http.Handler {
	cacheControl := "public, max-age=" + strconv.Itoa(int(maxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		doc, etag := keys.JWKS()
		h := w.Header()
		h.Set("Cache-Control", cacheControl)
		h.Set("ETag", etag)
		h.Set("Access-Control-Allow-Origin", "*")
		if etagMatches(r.Header.Get("If-None-Match"), etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/jwk-set+json")
		h.Set("Content-Length", strconv.Itoa(len(doc)))
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(doc)
	})
}

// etagMatches reports whether an If-None-Match header names etag: "*",
// or a list of tags compared weakly (RFC 9110, 13.1.2).
func etagMatches(header, etag string) bool {
	if header == "" {
		return false
	}
	if strings.TrimSpace(header) == "*" {
		return true
	}
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == etag {
			return true
		}
	}
	return false
}

// discovery is the part of the RFC 8414 metadata gqlauth serves: enough
// for JWT middleware that finds the keys from the issuer.
type discovery struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// discoveryHandler serves the metadata. The jwks_uri is built from
// publicURL (PUBLIC_URL) or, when empty, from the request: its Host, and
// https when it came over TLS or a trusted proxy says so
// (X-Forwarded-Proto).
func discoveryHandler(issuer, publicURL string, maxAge time.Duration, ips clientIPs) http.Handler {
	cacheControl := "public, max-age=" + strconv.Itoa(int(maxAge.Seconds()))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := strings.TrimSuffix(publicURL, "/")
		if base == "" {
			base = requestOrigin(r, ips)
			w.Header().Set("Vary", "Host, X-Forwarded-Proto")
		}
		body, _ := json.Marshal(discovery{Issuer: issuer, JWKSURI: base + JWKSPath})
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", cacheControl)
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(body)
	})
}

// requestOrigin is the scheme and host a request was sent to.
func requestOrigin(r *http.Request, ips clientIPs) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	} else if proto := r.Header.Get("X-Forwarded-Proto"); proto == "https" && ips.peerTrusted(r) {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// peerTrusted reports whether the socket peer of r is a trusted proxy.
func (c clientIPs) peerTrusted(r *http.Request) bool {
	host := r.RemoteAddr
	if i := strings.LastIndexByte(host, ':'); i >= 0 {
		host = host[:i]
	}
	a, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && c.isTrusted(a.Unmap())
}
