package webhook

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSignMatchesStandardWebhooks checks Sign against the example of the
// Standard Webhooks reference libraries, so that receivers using them
// verify gqlauth's signatures.
func TestSignMatchesStandardWebhooks(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Unix(1614265330, 0)
	body := []byte(`{"test": 2432232314}`)
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", ts, body)
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	h := http.Header{}
	h.Set(HeaderID, "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, "v1,bm9wZQ== "+got)
	if err := Verify(key, h, body, ts.Add(time.Minute)); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if err := Verify(key, h, body, ts.Add(Tolerance+time.Second)); err == nil {
		t.Fatal("Verify accepted a stale timestamp")
	}
	if err := Verify(key, h, append(body, ' '), ts); err == nil {
		t.Fatal("Verify accepted a changed body")
	}
}
