package config

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"log/slog"
	"slices"
	"strings"
	"testing"
)

// testSecret is a JWT_ACCESS_SECRET production accepts (openssl rand -base64 48).
const testSecret = "3q2+7wM1m0b9Zf4yXg8uH2kLpQ5rTtVvWx1zA6cD0eFhJ7nS9oR4iY2uBqE8lKmN"

// testDataKey is a DATA_ENCRYPTION_KEY production accepts (openssl rand -base64 32).
const testDataKey = "q3J0Xb1mZ8Yc4vN2pL7wR5tK9sD6fH0gA1eU3iO8yTw="

// production is a production configuration that starts (the email flows
// need an SMTP server, a sender and the app's origin), with vars added.
func production(vars map[string]string) map[string]string {
	out := map[string]string{
		"APP_ENV": "production", "DATA_ENCRYPTION_KEY": testDataKey, "JWT_ACCESS_SECRET": testSecret,
		"MAIL_URL": "smtps://gqlauth:mail-password@smtp.example.com:465", "MAIL_FROM": "Example <no-reply@example.com>",
		"APP_URL": "https://app.example.com",
	}
	for k, v := range vars {
		out[k] = v
	}
	return out
}

// TestProductionRefusesWildcardOrigins: credentials with a wildcard
// origin would let any site (or any sandboxed page) call with the user's
// cookies; production refuses to start, development allows it.
func TestProductionRefusesWildcardOrigins(t *testing.T) {
	for _, origins := range []string{"*", "https://app.example.com, *", "null", "https://*", "https://*.com", "*.example.com", "https://*.*.example.com"} {
		_, err := FromEnv(production(map[string]string{"CORS_ALLOWED_ORIGINS": origins}))
		if err == nil || !strings.HasPrefix(err.Error(), "CORS_ALLOWED_ORIGINS: ") {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q in production: got %v, want an error naming the variable", origins, err)
		}
	}
	for _, origins := range []string{"https://app.example.com", "https://app.example.com,http://localhost:5173", "https://*.example.com"} {
		c, err := FromEnv(production(map[string]string{"CORS_ALLOWED_ORIGINS": origins}))
		if err != nil || len(c.CORSAllowedOrigins) == 0 {
			t.Errorf("CORS_ALLOWED_ORIGINS=%q in production: %v", origins, err)
		}
	}
	if _, err := FromEnv(map[string]string{"CORS_ALLOWED_ORIGINS": "*"}); err != nil {
		t.Errorf("development refuses CORS_ALLOWED_ORIGINS=*: %v", err)
	}
}

// TestProductionRefusesGuessableSecret: a repeated character, a short
// repeated word, a run of consecutive characters are refused in
// production however long; random secrets pass.
func TestProductionRefusesGuessableSecret(t *testing.T) {
	for _, weak := range []string{
		strings.Repeat("s", 32),
		strings.Repeat("s", 64),
		strings.Repeat("ab", 32),
		strings.Repeat("secret", 8),
		"0123456789abcdef0123456789abcdef",
		"abcdefghijklmnopqrstuvwxyz0123456789",
		"test-secret-test-secret-test-secret!",
	} {
		_, err := FromEnv(production(map[string]string{"JWT_ACCESS_SECRET": weak}))
		if err == nil || !strings.HasPrefix(err.Error(), "JWT_ACCESS_SECRET: looks guessable") {
			t.Errorf("JWT_ACCESS_SECRET=%q in production: got %v, want it refused", weak, err)
		}
		if _, err := FromEnv(map[string]string{"JWT_ACCESS_SECRET": weak}); err != nil {
			t.Errorf("development refuses JWT_ACCESS_SECRET=%q: %v", weak, err)
		}
	}
	// No false alarms on what docs/ and docker-compose.yml suggest:
	// openssl rand -base64 32/48 and -hex 32, and rand.Text pairs.
	for i := range 2000 {
		b := make([]byte, 48)
		_, _ = rand.Read(b)
		for _, s := range []string{
			base64.StdEncoding.EncodeToString(b[:32]), base64.StdEncoding.EncodeToString(b),
			hex.EncodeToString(b[:32]), rand.Text() + rand.Text(),
		} {
			if bits := secretEntropyBits(s); bits < MinSecretEntropyBits {
				t.Fatalf("random secret %d %q estimated at %.0f bits, below %d", i, s, bits, MinSecretEntropyBits)
			}
		}
		// DATA_ENCRYPTION_KEY is checked as the 32 bytes it decodes to.
		if bits := secretEntropyBits(string(b[:32])); bits < MinSecretEntropyBits {
			t.Fatalf("random data key %d %x estimated at %.0f bits, below %d", i, b[:32], bits, MinSecretEntropyBits)
		}
	}
}

// TestCookieSecureFalseWarnsInProduction: production allows
// COOKIE_SECURE=false (TLS may end at a proxy on the same host) but says
// so loudly at start, at level WARN.
func TestCookieSecureFalseWarnsInProduction(t *testing.T) {
	warnings := func(vars map[string]string) string {
		t.Helper()
		c, err := FromEnv(vars)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		c.LogWarnings(slog.New(slog.NewTextHandler(&buf, nil)))
		return buf.String()
	}
	got := warnings(production(map[string]string{"COOKIE_SECURE": "false"}))
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, "COOKIE_SECURE=false in production") {
		t.Fatalf("log = %q, want a WARN line about COOKIE_SECURE=false", got)
	}
	if got := warnings(production(nil)); got != "" {
		t.Errorf("production defaults logged %q, want no warning", got)
	}
	if got := warnings(map[string]string{"COOKIE_SECURE": "false", "JWT_ACCESS_SECRET": testSecret}); got != "" {
		t.Errorf("development with COOKIE_SECURE=false logged %q, want no warning", got)
	}
}

// TestMailSettings: production with the email flows on needs an SMTP
// server, a sender and the app's origin, and starts without them once the
// flows are off; development has defaults for the rest. MAIL_URL's password never appears in an error.
func TestMailSettings(t *testing.T) {
	if _, err := FromEnv(production(map[string]string{"MAIL_URL": "", "MAIL_FROM": "", "APP_URL": "", "EMAIL_VERIFICATION": "off"})); err != nil {
		t.Errorf("production with EMAIL_VERIFICATION=off and no mail settings: %v", err)
	}
	for _, v := range []string{"optional", "required"} {
		_, err := FromEnv(production(map[string]string{"MAIL_URL": "", "EMAIL_VERIFICATION": v}))
		if err == nil || !strings.HasPrefix(err.Error(), "MAIL_URL: is required in production") {
			t.Errorf("production with EMAIL_VERIFICATION=%s and no MAIL_URL: %v", v, err)
		}
	}
	dev, err := FromEnv(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if !dev.MailFlows() || dev.EmailVerification != EmailVerificationOptional {
		t.Error("EMAIL_VERIFICATION does not default to optional")
	}
	if dev.AppOrigin() != "http://localhost:8080" || dev.MailSender() != DefaultMailFrom {
		t.Errorf("development defaults: APP_URL %q, MAIL_FROM %q", dev.AppOrigin(), dev.MailSender())
	}
	c, err := FromEnv(map[string]string{"APP_URL": "https://app.example.com/", "PORT": "9000"})
	if err != nil || c.AppOrigin() != "https://app.example.com" {
		t.Errorf("APP_URL with a trailing slash: %q, %v", c.AppOrigin(), err)
	}
	plain, err := FromEnv(production(map[string]string{"APP_URL": "http://app.example.com"}))
	if err != nil || !slices.ContainsFunc(plain.Warnings(), func(w string) bool { return strings.HasPrefix(w, "APP_URL is http://") }) {
		t.Errorf("production with an http:// APP_URL: %v, warnings %q", err, plain.Warnings())
	}
	_, err = FromEnv(map[string]string{"MAIL_URL": "imap://user:s3cret-mail-pw@host"})
	if err == nil || strings.Contains(err.Error(), "s3cret-mail-pw") {
		t.Errorf("a bad MAIL_URL: %v (must be refused without repeating the password)", err)
	}
}
