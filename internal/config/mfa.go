package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The values of MFA_REQUIRED.
const (
	MFARequiredOff    = "off"    // second factors are optional for everyone
	MFARequiredAdmins = "admins" // ADMINs must enroll one, and use it
	MFARequiredAll    = "all"    // everyone must enroll one, and use it
)

// validateMFA checks the second-factor settings.
func (c *Config) validateMFA() error {
	switch c.MFARequired {
	case MFARequiredOff, MFARequiredAdmins, MFARequiredAll:
	default:
		return fmt.Errorf("MFA_REQUIRED: must be off, admins or all, got %q", c.MFARequired)
	}
	if c.MFAMaxFailures < 0 {
		return fmt.Errorf("MFA_MAX_FAILURES: must not be negative (0 turns the limit off), got %d", c.MFAMaxFailures)
	}
	if c.MFAMaxFailures > 0 && c.LoginFailureWindow < time.Second {
		return fmt.Errorf("LOGIN_FAILURE_WINDOW: must be at least 1s")
	}
	if c.ReauthMaxAge < 0 || (c.ReauthMaxAge > 0 && c.ReauthMaxAge < time.Second) {
		return fmt.Errorf("REAUTH_MAX_AGE: must be 0 (off) or at least 1s")
	}
	if c.TOTPIssuer == "" || len(c.TOTPIssuer) > 64 {
		return fmt.Errorf("TOTP_ISSUER: must be 1 to 64 bytes")
	}
	return nil
}

// PasskeyRPID is WEBAUTHN_RP_ID, or the host of APP_URL (without port).
func (c *Config) PasskeyRPID() string {
	if c.WebAuthnRPID != "" {
		return c.WebAuthnRPID
	}
	u, err := url.Parse(c.AppOrigin())
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// PasskeyRPName is WEBAUTHN_RP_NAME, or TOTP_ISSUER.
func (c *Config) PasskeyRPName() string {
	if c.WebAuthnRPName != "" {
		return c.WebAuthnRPName
	}
	return c.TOTPIssuer
}

// PasskeyOrigins are WEBAUTHN_ORIGINS, or APP_URL's origin (scheme and
// host, no path).
func (c *Config) PasskeyOrigins() []string {
	if len(c.WebAuthnOrigins) > 0 {
		return c.WebAuthnOrigins
	}
	u, err := url.Parse(c.AppOrigin())
	if err != nil {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

// validatePasskeys checks the WebAuthn settings: each origin an exact
// http(s) origin, the RP id a host name that every origin's host is or
// ends in (WebAuthn's rule).
func (c *Config) validatePasskeys() error {
	if len(c.WebAuthnRPName) > 64 {
		return fmt.Errorf("WEBAUTHN_RP_NAME: must be at most 64 bytes")
	}
	rp := c.PasskeyRPID()
	if rp == "" || strings.ContainsAny(rp, ":/ ") {
		return fmt.Errorf("WEBAUTHN_RP_ID: must be a host name (example.com), got %q", rp)
	}
	for _, o := range c.PasskeyOrigins() {
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			return fmt.Errorf("WEBAUTHN_ORIGINS: each must be an origin such as https://app.example.com, got %q", o)
		}
		if h := u.Hostname(); h != rp && !strings.HasSuffix(h, "."+rp) {
			return fmt.Errorf("WEBAUTHN_ORIGINS: %q is not on WEBAUTHN_RP_ID %q or a subdomain of it", o, rp)
		}
	}
	return nil
}
