package config

import (
	"encoding/base64"
	"fmt"
	"log/slog"
	"math"
	"strings"
)

// MinSecretEntropyBits is the least estimated entropy production accepts
// in JWT_ACCESS_SECRET and DATA_ENCRYPTION_KEY (see secretEntropyBits). Random secrets of 32 or
// more characters from `openssl rand -base64 32` or `-hex 32` estimate at
// 190 bits and more; "test-secret-test-secret-test-secret!" at 92,
// 32 times the same character at 0.
const MinSecretEntropyBits = 96

// checkProduction refuses settings that are unsafe on a server people
// use: a CORS wildcard, which would let any site send credentialed
// requests (or, as a literal "*", make every credentialed request fail),
// and a signing secret or data key anyone could guess.
func (c *Config) checkProduction() error {
	if !c.Production() {
		return nil
	}
	for _, o := range c.CORSAllowedOrigins {
		if why := unsafeOrigin(strings.TrimSpace(o)); why != "" {
			return fmt.Errorf("CORS_ALLOWED_ORIGINS: %q %s; name each origin that may call with credentials", o, why)
		}
	}
	if c.JWTAccessSecret != "" {
		if bits := secretEntropyBits(c.JWTAccessSecret); bits < MinSecretEntropyBits {
			return fmt.Errorf("JWT_ACCESS_SECRET: looks guessable (estimated %.0f bits of entropy, at least %d required); use random bytes, e.g. openssl rand -base64 48",
				bits, MinSecretEntropyBits)
		}
	}
	if raw := decodeBase64(c.DataEncryptionKey); raw != nil {
		if bits := secretEntropyBits(string(raw)); bits < MinSecretEntropyBits {
			return fmt.Errorf("DATA_ENCRYPTION_KEY: looks guessable (estimated %.0f bits of entropy, at least %d required); use random bytes: openssl rand -base64 32",
				bits, MinSecretEntropyBits)
		}
	}
	return nil
}

// decodeBase64 decodes s in any of the base64 alphabets and paddings
// datakey.Parse accepts, or returns nil.
func decodeBase64(s string) []byte {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.Strict().DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

// unsafeOrigin explains why an allowed origin is refused in production,
// or returns "". A wildcard may stand for the subdomains of a named
// domain (https://*.example.com), nothing wider.
func unsafeOrigin(o string) string {
	switch {
	case o == "*":
		return "allows every origin"
	case strings.EqualFold(o, "null"):
		return "allows sandboxed pages and local files of any site"
	case !strings.Contains(o, "*"):
		return ""
	}
	_, host, ok := strings.Cut(o, "://")
	rest, wild := strings.CutPrefix(host, "*.")
	if !ok || !wild || strings.Contains(rest, "*") || !strings.Contains(strings.Trim(rest, "."), ".") {
		return "is a wildcard wider than the subdomains of one domain"
	}
	return ""
}

// secretEntropyBits estimates the entropy of a secret in bits, from the
// secret alone. A secret that repeats a shorter unit ("ab" × 16,
// "secret" × 8) is worth its unit only, so the estimate is taken over the
// shortest unit whose repetition spells the secret (for most secrets, the
// whole secret). It is the smaller of two Shannon estimates over that
// unit: one over its bytes (the number of bytes times the entropy of
// their frequencies; few distinct bytes score low) and one over the
// differences between neighbouring bytes (a run like "abcdef…" or
// "0123…" scores low). It cannot know that a passphrase is well known;
// it catches what is obviously not random.
func secretEntropyBits(s string) float64 {
	s = s[:shortestPeriod(s)]
	if len(s) < 2 {
		return 0
	}
	diffs := make([]byte, len(s)-1)
	for i := range diffs {
		diffs[i] = s[i+1] - s[i]
	}
	return min(shannonBits([]byte(s)), shannonBits(diffs))
}

// shortestPeriod is the length of the shortest prefix of s that, repeated,
// spells s (its last repetition may be cut short): the Knuth–Morris–Pratt
// failure function of s's last byte, subtracted from len(s).
func shortestPeriod(s string) int {
	if s == "" {
		return 0
	}
	fail := make([]int, len(s))
	for i, k := 1, 0; i < len(s); i++ {
		for k > 0 && s[i] != s[k] {
			k = fail[k-1]
		}
		if s[i] == s[k] {
			k++
		}
		fail[i] = k
	}
	return len(s) - fail[len(s)-1]
}

// shannonBits is len(b) times the Shannon entropy of b's byte frequencies.
func shannonBits(b []byte) float64 {
	var counts [256]int
	for _, x := range b {
		counts[x]++
	}
	n := float64(len(b))
	bits := 0.0
	for _, k := range counts {
		if k > 0 {
			p := float64(k) / n
			bits -= float64(k) * math.Log2(p)
		}
	}
	return bits
}

// Warnings are settings that are allowed but unsafe, for the operator to
// read at start (LogWarnings).
func (c *Config) Warnings() []string {
	var out []string
	if c.Production() && !c.Secure() {
		out = append(out, "COOKIE_SECURE=false in production: the refresh-token cookie will be sent over plain HTTP, where anyone on the network can read it and take over the session; serve gqlauth behind TLS and remove the setting")
	}
	return append(out, c.mailWarnings()...)
}

// LogWarnings logs each of Warnings at level WARN.
func (c *Config) LogWarnings(log *slog.Logger) {
	for _, w := range c.Warnings() {
		log.Warn(w)
	}
}
