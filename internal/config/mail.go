package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// validateMail checks the email settings. MAIL_URL is checked here for
// its scheme only; internal/mail parses the rest when gqlauth starts.
func (c *Config) validateMail() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	switch c.EmailVerification {
	case EmailVerificationOff, EmailVerificationOptional, EmailVerificationRequired:
	default:
		return bad("EMAIL_VERIFICATION", "must be off, optional or required, got %q", c.EmailVerification)
	}
	if c.MailURL != "" {
		u, err := url.Parse(c.MailURL)
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			// The value may hold a password: never repeat it.
			return bad("MAIL_URL", "must look like smtp://user:password@host:587 or smtps://user:password@host:465")
		}
	}
	if c.MailFrom != "" {
		if a, err := mail.ParseAddress(c.MailFrom); err != nil || !strings.Contains(a.Address, "@") {
			return bad("MAIL_FROM", "must be an address, optionally with a name (Acme <no-reply@acme.example>), got %q", c.MailFrom)
		}
	}
	if c.AppURL != "" {
		u, err := url.Parse(c.AppURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return bad("APP_URL", "must be an absolute http(s) URL without query or fragment (https://app.example.com), got %q", c.AppURL)
		}
	}
	if c.MailTimeout < time.Second {
		return bad("MAIL_TIMEOUT", "must be at least 1s")
	}
	if c.MailMaxAttempts < 1 || c.MailMaxAttempts > 100 {
		return bad("MAIL_MAX_ATTEMPTS", "must be between 1 and 100, got %d", c.MailMaxAttempts)
	}
	if c.MailRetryBackoff < 10*time.Millisecond {
		return bad("MAIL_RETRY_BACKOFF", "must be at least 10ms")
	}
	for name, d := range map[string]time.Duration{"EMAIL_TOKEN_TTL": c.EmailTokenTTL, "PASSWORD_RESET_TTL": c.PasswordResetTTL} {
		if d < time.Minute || d > 7*24*time.Hour {
			return bad(name, "must be between 1m and 7d, got %s", d)
		}
	}
	if p, err := url.Parse(c.EmailLinkPath); err != nil || !strings.HasPrefix(c.EmailLinkPath, "/") || strings.HasPrefix(c.EmailLinkPath, "//") ||
		p.RawQuery != "" || p.Fragment != "" || p.Path != c.EmailLinkPath || reservedPath(c.EmailLinkPath) {
		return bad("EMAIL_LINK_PATH", "must be a path like /auth/email, without query or fragment, and not one gqlauth serves (/graphql, /healthz, …), got %q", c.EmailLinkPath)
	}
	if c.EmailRateLimit < 0 {
		return bad("EMAIL_RATE_LIMIT", "must not be negative (0 turns the limit off), got %d", c.EmailRateLimit)
	}
	if c.Production() && c.MailFlows() {
		why := fmt.Sprintf("is required in production while the email flows are on (EMAIL_VERIFICATION=%s); set it, or EMAIL_VERIFICATION=off", c.EmailVerification)
		switch {
		case c.MailURL == "":
			return bad("MAIL_URL", "%s", why)
		case c.MailFrom == "":
			return bad("MAIL_FROM", "%s", why)
		case c.AppURL == "":
			return bad("APP_URL", "%s", why)
		}
	}
	return nil
}

// validatePasswords checks the password settings.
func (c *Config) validatePasswords() error {
	bad := func(name, format string, args ...any) error {
		return fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	}
	if c.PasswordMinLength < 8 || c.PasswordMinLength > 64 {
		return bad("PASSWORD_MIN_LENGTH", "must be between 8 (NIST SP 800-63B-4's least) and 64, got %d", c.PasswordMinLength)
	}
	switch c.PasswordBreachCheck {
	case BreachCheckOff, BreachCheckHIBP:
	default:
		return bad("PASSWORD_BREACH_CHECK", "must be off or hibp, got %q", c.PasswordBreachCheck)
	}
	if u, err := url.Parse(c.PasswordBreachAPIURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return bad("PASSWORD_BREACH_API_URL", "must be an http(s) URL, got %q", c.PasswordBreachAPIURL)
	}
	if c.PasswordBreachTimeout < 100*time.Millisecond || c.PasswordBreachTimeout > 30*time.Second {
		return bad("PASSWORD_BREACH_TIMEOUT", "must be between 100ms and 30s, got %s", c.PasswordBreachTimeout)
	}
	if c.PasswordPepper != "" && len(c.PasswordPepper) < 32 {
		return bad("PASSWORD_PEPPER", "must be at least 32 bytes, got %d", len(c.PasswordPepper))
	}
	if c.Production() && c.PasswordPepper != "" {
		if bits := secretEntropyBits(c.PasswordPepper); bits < MinSecretEntropyBits {
			return bad("PASSWORD_PEPPER", "looks guessable (estimated %.0f bits of entropy, at least %d required); use random bytes, e.g. openssl rand -base64 48",
				bits, MinSecretEntropyBits)
		}
	}
	return nil
}

// mailWarnings are the email settings that are allowed but unsafe.
func (c *Config) mailWarnings() []string {
	var out []string
	if c.MailFlows() && c.Production() && strings.HasPrefix(c.AppURL, "http://") {
		out = append(out, "APP_URL is http:// in production: the one-time links in mails would travel in plain text; use https://")
	}
	return out
}

// reservedPath reports whether p is, or is under, an endpoint of
// gqlauth's own, where the page of mail links cannot go. (A path under
// /examples/spa/ is allowed: the example app handles the links itself.)
func reservedPath(p string) bool {
	if p == "/" {
		return true
	}
	for _, r := range []string{"/graphql", "/schema.graphql", "/healthz", "/readyz", "/metrics", "/playground", "/auth/verify", "/.well-known", "/email-link"} {
		if p == r || strings.HasPrefix(p, r+"/") {
			return true
		}
	}
	return false
}
