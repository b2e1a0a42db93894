package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of the Standard Webhooks specification.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// Sign returns the webhook-signature value of a message: "v1," and the
// base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" under key.
func Sign(key []byte, id string, ts time.Time, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + strconv.FormatInt(ts.Unix(), 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Tolerance is how far a webhook-timestamp may be from the receiver's
// clock before Verify refuses it (replays of old messages).
const Tolerance = 5 * time.Minute

// Verify checks a received webhook the way a receiver should: the
// timestamp within Tolerance of now, and one of the space-separated v1
// signatures matching, compared in constant time. gqlauth's own tests
// use it; docs/audit.md shows the same steps for receivers.
func Verify(key []byte, h http.Header, body []byte, now time.Time) error {
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return errors.New("bad webhook-timestamp")
	}
	ts := time.Unix(sec, 0)
	if now.Sub(ts) > Tolerance || ts.Sub(now) > Tolerance {
		return errors.New("webhook-timestamp too far from now")
	}
	want := Sign(key, id, ts, body)
	for _, sig := range strings.Fields(sigs) {
		if hmac.Equal([]byte(sig), []byte(want)) {
			return nil
		}
	}
	return errors.New("no matching signature")
}
