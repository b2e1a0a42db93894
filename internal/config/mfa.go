package config

import (
	"fmt"
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
