package webhook

import (
	"encoding/json"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/audit"
)

// The OpenID CAEP 1.0 event types gqlauth sends.
const (
	CAEPSessionRevoked   = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	CAEPCredentialChange = "https://schemas.openid.net/secevent/caep/event-type/credential-change"
)

// SETType is the typ header of a Security Event Token (RFC 8417) and
// the content type of its push delivery (RFC 8935).
const SETType = "secevent+jwt"

// caepClaims are the claims of the Security Event Token of ev, without
// iat (set when it is signed), or false when CAEP has no event for ev's
// type. The subject is the user (an opaque id), with the session for a
// session event (a "complex" subject, as the Shared Signals Framework
// defines it).
func caepClaims(ev *ent.AuditEvent, issuer string) (map[string]any, bool) {
	if ev.UserID == nil {
		return nil, false
	}
	user := map[string]any{"format": "opaque", "id": ev.UserID.String()}
	sub := user
	at := ev.OccurredAt.Unix()
	var uri string
	body := map[string]any{"event_timestamp": at, "initiating_entity": initiator(ev)}
	switch ev.Type {
	case audit.SessionRevoked, audit.SessionReuseDetected:
		uri = CAEPSessionRevoked
		if ev.SessionID != nil {
			sub = map[string]any{"format": "complex", "user": user,
				"session": map[string]any{"format": "opaque", "id": ev.SessionID.String()}}
		}
		if reason, ok := ev.Details["reason"].(string); ok {
			body["reason_admin"] = map[string]string{"en": reason}
		}
	case audit.UserPasswordChanged, audit.UserPasswordReset:
		uri = CAEPCredentialChange
		body["credential_type"] = "password"
		body["change_type"] = "update"
	case audit.FactorEnrolled, audit.FactorRemoved:
		uri = CAEPCredentialChange
		body["credential_type"], _ = ev.Details["kind"].(string)
		body["change_type"] = "create"
		if ev.Type == audit.FactorRemoved {
			body["change_type"] = "delete"
		}
	default:
		return nil, false
	}
	claims := map[string]any{
		"iss":    issuer,
		"jti":    ev.ID.String(),
		"sub_id": sub,
		"events": map[string]any{uri: body},
	}
	if ev.RequestID != nil {
		claims["txn"] = *ev.RequestID
	}
	return claims, true
}

// initiator is CAEP's initiating_entity of ev: the user themself, an
// admin (another user), or gqlauth (system).
func initiator(ev *ent.AuditEvent) string {
	switch {
	case ev.Actor == audit.ActorSystem:
		return "system"
	case ev.Actor == audit.ActorCLI:
		return "admin"
	case ev.UserID != nil && ev.Actor == ev.UserID.String():
		return "user"
	}
	return "admin"
}

// signSET signs the stored claims of a delivery to endpoint at now: with
// gqlauth's current signing key when keys is set (receivers verify it
// through /.well-known/jwks.json), else HS256 with the WEBHOOK_SECRET key.
func signSET(keys CurrentKey, secret []byte, stored []byte, endpoint string, now time.Time) ([]byte, error) {
	var claims jwt.MapClaims
	if err := json.Unmarshal(stored, &claims); err != nil {
		return nil, err
	}
	claims["iat"] = now.Unix()
	claims["aud"] = endpoint
	var (
		s   string
		err error
	)
	if keys != nil {
		k := keys.Current()
		t := k.NewToken(claims)
		t.Header["typ"] = SETType
		s, err = k.Sign(t)
	} else {
		t := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
		t.Header["typ"] = SETType
		s, err = t.SignedString(secret)
	}
	return []byte(s), err
}
