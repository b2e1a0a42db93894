package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := FromEnv(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || c.AccessTokenTTL != 15*time.Minute || c.RefreshTokenTTL != 7*24*time.Hour || c.BcryptCost != 12 {
		t.Fatalf("defaults = %+v", c)
	}
	if c.JWTAccessSecret != "" || c.DataEncryptionKey != "" {
		t.Fatal("development needs neither JWT_ACCESS_SECRET nor DATA_ENCRYPTION_KEY (the key is made and kept beside the data)")
	}
	if c.JWTKeysRefreshInterval != 30*time.Second || c.JWKSMaxAge != 10*time.Minute || c.KeyRetireAfter() != 15*time.Minute+5*time.Second || c.ClientID() != "gqlauth" {
		t.Fatalf("signing key defaults = %+v", c)
	}
	if !c.Playground() || !c.Introspection() || c.Secure() {
		t.Fatal("development defaults: playground and introspection on, cookies not Secure")
	}
	if c.DatabaseURL != "sqlite://gqlauth.db" {
		t.Fatalf("DATABASE_URL default = %q", c.DatabaseURL)
	}
}

func TestProduction(t *testing.T) {
	c, err := FromEnv(production(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Playground() || c.Introspection() || !c.Secure() {
		t.Fatal("production defaults: playground and introspection off, cookies Secure")
	}
	c, err = FromEnv(production(map[string]string{"PLAYGROUND_ENABLED": "true"}))
	if err != nil || !c.Playground() {
		t.Fatal("PLAYGROUND_ENABLED=true must win in production")
	}
}

// TestPublishingDefaults checks what follows what: /schema.graphql
// follows introspection unless SCHEMA_ENABLED is set; /metrics stays off
// the main port in production unless METRICS_TOKEN guards it; trusted
// documents are enforced once a manifest is named.
func TestPublishingDefaults(t *testing.T) {
	prod := func(kv ...string) *Config {
		t.Helper()
		vars := production(nil)
		for i := 0; i+1 < len(kv); i += 2 {
			vars[kv[i]] = kv[i+1]
		}
		c, err := FromEnv(vars)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	dev, err := FromEnv(map[string]string{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		got  bool
		want bool
	}{
		{"development schema", dev.SchemaPublished(), true},
		{"development metrics", dev.MetricsOnMainPort(), true},
		{"production schema", prod().SchemaPublished(), false},
		{"production schema, introspection on", prod("INTROSPECTION_ENABLED", "true").SchemaPublished(), true},
		{"production schema, SCHEMA_ENABLED", prod("SCHEMA_ENABLED", "true").SchemaPublished(), true},
		{"production metrics", prod().MetricsOnMainPort(), false},
		{"production metrics with a token", prod("METRICS_TOKEN", strings.Repeat("t", 16)).MetricsOnMainPort(), true},
		{"production metrics on METRICS_ADDR", prod("METRICS_ADDR", ":9090", "METRICS_TOKEN", strings.Repeat("t", 16)).MetricsOnMainPort(), false},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	if m := dev.TrustedMode(); m != TrustedOff {
		t.Errorf("TRUSTED_DOCUMENTS unset: mode %q, want off", m)
	}
	if m := prod("TRUSTED_DOCUMENTS", "docs.json").TrustedMode(); m != TrustedEnforce {
		t.Errorf("TRUSTED_DOCUMENTS set: mode %q, want enforce", m)
	}
	if m := prod("TRUSTED_DOCUMENTS", "docs.json", "TRUSTED_DOCUMENTS_MODE", "Allow").TrustedMode(); m != TrustedAllow {
		t.Errorf("TRUSTED_DOCUMENTS_MODE=Allow: mode %q, want allow", m)
	}
}

func TestInvalidValuesNameTheVariable(t *testing.T) {
	cases := []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"PORT": "abc"}, "PORT"},
		{map[string]string{"PORT": "70000"}, "PORT"},
		{map[string]string{"DATABASE_MAX_CONNS": "3"}, "DATABASE_MAX_CONNS"},
		{map[string]string{"DATABASE_MAX_CONNS": "-1"}, "DATABASE_MAX_CONNS"},
		{map[string]string{"JWT_ACCESS_EXPIRES_IN": "soon"}, "JWT_ACCESS_EXPIRES_IN"},
		{map[string]string{"JWT_REFRESH_EXPIRES_IN": "xd"}, "JWT_REFRESH_EXPIRES_IN"},
		{map[string]string{"BCRYPT_COST": "3"}, "BCRYPT_COST"},
		{map[string]string{"BCRYPT_COST": "32"}, "BCRYPT_COST"},
		{production(map[string]string{"BCRYPT_COST": "9"}), "BCRYPT_COST"},
		{map[string]string{"APP_ENV": "production"}, "DATA_ENCRYPTION_KEY"},
		{map[string]string{"APP_ENV": "production", "JWT_ACCESS_SECRET": testSecret}, "DATA_ENCRYPTION_KEY"},
		{map[string]string{"JWT_ACCESS_SECRET": "short"}, "JWT_ACCESS_SECRET"},
		{map[string]string{"DATA_ENCRYPTION_KEY": "not base64!"}, "DATA_ENCRYPTION_KEY"},
		{map[string]string{"DATA_ENCRYPTION_KEY": "c2hvcnQ="}, "DATA_ENCRYPTION_KEY"},
		{production(map[string]string{"DATA_ENCRYPTION_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}), "DATA_ENCRYPTION_KEY"},
		{map[string]string{"JWT_KEYS_REFRESH_INTERVAL": "10ms"}, "JWT_KEYS_REFRESH_INTERVAL"},
		{map[string]string{"JWT_KEY_RETIRE_AFTER": "15m"}, "JWT_KEY_RETIRE_AFTER"},
		{map[string]string{"PUBLIC_URL": "auth.example.com"}, "PUBLIC_URL"},
		{map[string]string{"PUBLIC_URL": "https://auth.example.com/sub?x=1"}, "PUBLIC_URL"},
		{map[string]string{"APP_ENV": "staging"}, "APP_ENV"},
		{map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL"},
		{map[string]string{"COOKIE_SAMESITE": "sometimes"}, "COOKIE_SAMESITE"},
		{map[string]string{"PLAYGROUND_ENABLED": "maybe"}, "PLAYGROUND_ENABLED"},
		{map[string]string{"SCHEMA_ENABLED": "maybe"}, "SCHEMA_ENABLED"},
		{map[string]string{"TRUSTED_DOCUMENTS_MODE": "strict", "TRUSTED_DOCUMENTS": "docs.json"}, "TRUSTED_DOCUMENTS_MODE"},
		{map[string]string{"TRUSTED_DOCUMENTS_MODE": "enforce"}, "TRUSTED_DOCUMENTS_MODE"},
		{map[string]string{"METRICS_TOKEN": "short"}, "METRICS_TOKEN"},
		{map[string]string{"EMAIL_VERIFICATION": "sometimes"}, "EMAIL_VERIFICATION"},
		{map[string]string{"MAIL_URL": "http://smtp.example.com"}, "MAIL_URL"},
		{map[string]string{"MAIL_URL": "smtp://"}, "MAIL_URL"},
		{map[string]string{"MAIL_FROM": "not an address"}, "MAIL_FROM"},
		{map[string]string{"APP_URL": "app.example.com"}, "APP_URL"},
		{map[string]string{"APP_URL": "https://app.example.com/#x"}, "APP_URL"},
		{map[string]string{"MAIL_TIMEOUT": "10ms"}, "MAIL_TIMEOUT"},
		{map[string]string{"MAIL_MAX_ATTEMPTS": "0"}, "MAIL_MAX_ATTEMPTS"},
		{map[string]string{"MAIL_RETRY_BACKOFF": "1ms"}, "MAIL_RETRY_BACKOFF"},
		{production(map[string]string{"MAIL_URL": ""}), "MAIL_URL"},
		{production(map[string]string{"MAIL_FROM": ""}), "MAIL_FROM"},
		{production(map[string]string{"APP_URL": ""}), "APP_URL"},
		{map[string]string{"PASSWORD_MIN_LENGTH": "7"}, "PASSWORD_MIN_LENGTH"},
		{map[string]string{"PASSWORD_MIN_LENGTH": "65"}, "PASSWORD_MIN_LENGTH"},
		{map[string]string{"PASSWORD_BREACH_CHECK": "on"}, "PASSWORD_BREACH_CHECK"},
		{map[string]string{"PASSWORD_BREACH_API_URL": "ftp://x"}, "PASSWORD_BREACH_API_URL"},
		{map[string]string{"PASSWORD_BREACH_TIMEOUT": "1m"}, "PASSWORD_BREACH_TIMEOUT"},
		{map[string]string{"PASSWORD_PEPPER": "short"}, "PASSWORD_PEPPER"},
		{production(map[string]string{"PASSWORD_PEPPER": strings.Repeat("pepper", 8)}), "PASSWORD_PEPPER"},
		{map[string]string{"MFA_REQUIRED": "sometimes"}, "MFA_REQUIRED"},
		{map[string]string{"APP_URL": "https://app.example.com", "WEBAUTHN_ORIGINS": "https://app.example.org"}, "WEBAUTHN_ORIGINS"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://app.example.com/login"}, "WEBAUTHN_ORIGINS"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://badexample.com"}, "WEBAUTHN_ORIGINS"},
		{map[string]string{"WEBAUTHN_RP_ID": "example.com:443"}, "WEBAUTHN_RP_ID"},
		{map[string]string{"MFA_MAX_FAILURES": "-1"}, "MFA_MAX_FAILURES"},
		{map[string]string{"REAUTH_MAX_AGE": "10ms"}, "REAUTH_MAX_AGE"},
		{map[string]string{"TOTP_ISSUER": strings.Repeat("x", 65)}, "TOTP_ISSUER"},
		{map[string]string{"REDIS_URL": "http://redis:6379"}, "REDIS_URL"},
		{map[string]string{"REDIS_URL": "redis://a:6379", "REDIS_CLUSTER_ADDRS": "b:6379,c:6379"}, "REDIS_CLUSTER_ADDRS"},
		{map[string]string{"REDIS_URL": "redis://a:6379", "REDIS_SENTINEL_ADDRS": "s:26379", "REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_ADDRS"},
		{map[string]string{"REDIS_SENTINEL_ADDRS": "s:26379"}, "REDIS_SENTINEL_MASTER"},
		{map[string]string{"REDIS_SENTINEL_MASTER": "m"}, "REDIS_SENTINEL_MASTER"},
	}
	for _, tc := range cases {
		_, err := FromEnv(tc.vars)
		if err == nil {
			t.Errorf("%v: accepted", tc.vars)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, tc.want+":") || strings.Contains(msg, "\n") {
			t.Errorf("%v: error %q should be one line starting with %s:", tc.vars, msg, tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"15m": 15 * time.Minute, "7d": 7 * 24 * time.Hour, "1h30m": 90 * time.Minute, "0d": 0} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "d", "-1d", "1.5d", "-5m", "ten"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

// TestPasskeyDefaults: the relying party follows APP_URL (its host, its
// origin without the path) unless WEBAUTHN_RP_ID / WEBAUTHN_ORIGINS say
// otherwise; a parent domain serves its subdomains.
func TestPasskeyDefaults(t *testing.T) {
	c, err := FromEnv(map[string]string{"APP_URL": "https://app.example.com:8443/app/"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PasskeyRPID() != "app.example.com" || !slices.Equal(c.PasskeyOrigins(), []string{"https://app.example.com:8443"}) || c.PasskeyRPName() != "gqlauth" {
		t.Fatalf("defaults: %q %q %q", c.PasskeyRPID(), c.PasskeyOrigins(), c.PasskeyRPName())
	}
	c, err = FromEnv(map[string]string{"WEBAUTHN_RP_ID": "example.com", "WEBAUTHN_ORIGINS": "https://app.example.com,https://example.com", "WEBAUTHN_RP_NAME": "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	if c.PasskeyRPID() != "example.com" || len(c.PasskeyOrigins()) != 2 || c.PasskeyRPName() != "Acme" {
		t.Fatalf("set: %q %q %q", c.PasskeyRPID(), c.PasskeyOrigins(), c.PasskeyRPName())
	}
}
