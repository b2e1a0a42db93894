package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/auditevent"
	"github.com/gqlauth/gqlauth/ent/webhookdelivery"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/webhook"
)

// receiver is a webhook endpoint for tests: it verifies every request's
// signature the way docs/audit.md tells receivers to, can fail the first
// requests, can be slow, and records what it accepted.
type receiver struct {
	t   *testing.T
	key []byte
	srv *httptest.Server
	// failFirst answers 500 to that many requests before accepting any.
	failFirst atomic.Int32
	delay     time.Duration

	mu        sync.Mutex
	requests  int
	accepted  map[string]int // webhook-id → accepted deliveries
	order     []string       // webhook-ids in the order accepted
	bodies    map[string][]byte
	types     map[string]string // content type per id
	inFlight  map[string]int
	overlaps  int // a webhook-id posted while another post of it was in flight
	badSigned int
}

// newReceiver starts a receiver and returns it with its WEBHOOK_SECRET.
func newReceiver(t *testing.T) (*receiver, string) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	r := &receiver{t: t, key: key, accepted: map[string]int{}, bodies: map[string][]byte{},
		types: map[string]string{}, inFlight: map[string]int{}}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r, "whsec_" + base64.StdEncoding.EncodeToString(key)
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(webhook.HeaderID)
	r.mu.Lock()
	r.requests++
	if r.inFlight[id] > 0 {
		r.overlaps++
	}
	r.inFlight[id]++
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inFlight[id]--
		r.mu.Unlock()
	}()
	time.Sleep(r.delay)
	if err := webhook.Verify(r.key, req.Header, body, time.Now()); err != nil {
		r.mu.Lock()
		r.badSigned++
		r.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	if r.failFirst.Add(-1) >= 0 {
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accepted[id]++
	r.order = append(r.order, id)
	r.bodies[id] = body
	r.types[id] = req.Header.Get("Content-Type")
	w.WriteHeader(http.StatusNoContent)
}

// waitFor waits until the receiver accepted every id, failing after d.
func (r *receiver) waitFor(ids []string, d time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		missing := 0
		for _, id := range ids {
			if r.accepted[id] == 0 {
				missing++
			}
		}
		r.mu.Unlock()
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%d of %d webhooks not delivered after %s", missing, len(ids), d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sentEvents are the ids of the events WEBHOOK_EVENTS' default sends:
// every type but session.refreshed.
func sentEvents(t *testing.T, db *ent.Client) []string {
	t.Helper()
	evs, err := db.AuditEvent.Query().Where(auditevent.TypeNEQ(audit.SessionRefreshed)).Order(ent.Asc(auditevent.FieldID)).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(evs))
	for i, e := range evs {
		ids[i] = e.ID.String()
	}
	return ids
}

// TestWebhooksDeliverSignedEventsOnce: every event (but refreshes) reaches
// the receiver, signed, in order per user, exactly once by webhook-id,
// although the receiver fails the first attempts; the failures are
// retried with backoff and counted in the metrics.
func TestWebhooksDeliverSignedEventsOnce(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		rcv, secret := newReceiver(t)
		rcv.failFirst.Store(5)
		srv := apptest.New(t, b, map[string]string{
			"WEBHOOK_URLS": rcv.srv.URL + "/hooks", "WEBHOOK_SECRET": secret,
			"WEBHOOK_RETRY_BASE": "20ms", "AUDIT_REFRESHES": "true",
		})
		c := srv.Client()
		p := c.SignUp(t, apptest.UniqueEmail("hooked"), password)
		mustRefresh(t, srv.Client(), *p.RefreshToken)
		for i := 0; i < 3; i++ {
			c.SignIn(t, *p.User.Email, password)
		}
		wantOK(t, logout(t, c, "GLOBAL", ""))

		ids := sentEvents(t, srv.DB.Client)
		if len(ids) != 8 { // signed_up, 3 signed_in, 4 session.revoked; no refresh
			t.Fatalf("%d events to send, want 8", len(ids))
		}
		rcv.waitFor(ids, 30*time.Second)
		time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		if rcv.badSigned != 0 {
			t.Fatalf("%d webhooks failed verification", rcv.badSigned)
		}
		for _, id := range ids {
			if rcv.accepted[id] != 1 {
				t.Fatalf("event %s accepted %d times", id, rcv.accepted[id])
			}
		}
		if len(rcv.accepted) != len(ids) {
			t.Fatalf("receiver accepted %d ids, %d events were sent (refreshes must not be)", len(rcv.accepted), len(ids))
		}
		// One user: the order of the events.
		for i, id := range ids {
			if rcv.order[i] != id {
				t.Fatalf("delivery %d was %s, want %s (order per user)", i, rcv.order[i], id)
			}
		}
		var msg webhook.Message
		if err := json.Unmarshal(rcv.bodies[ids[0]], &msg); err != nil || msg.Type != audit.UserSignedUp ||
			msg.Data.ID.String() != ids[0] || msg.Data.UserID == nil || msg.Data.UserID.String() != p.User.ID {
			t.Fatalf("first message %s (%v)", rcv.bodies[ids[0]], err)
		}
		if rcv.types[ids[0]] != "application/json" {
			t.Fatalf("content type %q", rcv.types[ids[0]])
		}
		n, _ := srv.DB.WebhookDelivery.Query().Where(webhookdelivery.StatusEQ(webhookdelivery.StatusDelivered)).Count(context.Background())
		if n != len(ids) {
			t.Fatalf("%d deliveries marked delivered, want %d", n, len(ids))
		}
		_, _, metrics := opsGet(t, srv.HTTP.URL+"/metrics", nil)
		for _, want := range []string{`gqlauth_webhook_deliveries_total{result="delivered"} ` + strconv.Itoa(len(ids)),
			`gqlauth_webhook_deliveries_total{result="retried"} 5`, "gqlauth_webhook_queue_age_seconds"} {
			if !bytes.Contains(metrics, []byte(want)) {
				t.Fatalf("metrics lack %q", want)
			}
		}
	})
}

// TestWebhookGivesUpAfterMaxAttempts: a receiver that never accepts gets
// WEBHOOK_MAX_ATTEMPTS tries, then the delivery is failed and logged.
func TestWebhookGivesUpAfterMaxAttempts(t *testing.T) {
	rcv, secret := newReceiver(t)
	rcv.failFirst.Store(1 << 30)
	srv := apptest.New(t, apptest.Backends[0], map[string]string{
		"WEBHOOK_URLS": rcv.srv.URL, "WEBHOOK_SECRET": secret, "WEBHOOK_RETRY_BASE": "10ms",
		"WEBHOOK_MAX_ATTEMPTS": "3", "WEBHOOK_EVENTS": audit.UserSignedUp,
	})
	srv.Client().SignUp(t, apptest.UniqueEmail("never"), password)
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := srv.DB.WebhookDelivery.Query().Only(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if d.Status == webhookdelivery.StatusFailed {
			if d.Attempts != 3 || d.LastError == nil {
				t.Fatalf("failed delivery %+v", d)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery still %s after %d attempts", d.Status, d.Attempts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	rcv.mu.Lock()
	if rcv.requests != 3 {
		t.Fatalf("receiver got %d requests, want 3", rcv.requests)
	}
	rcv.mu.Unlock()
	if !bytes.Contains([]byte(srv.Logs.String()), []byte("webhook delivery failed for good")) {
		t.Fatal("the final failure was not logged")
	}
}

// TestWebhookCAEP: WEBHOOK_FORMAT=caep posts Security Event Tokens: a
// JWT of type secevent+jwt with the CAEP session-revoked and
// credential-change events and the subject; events CAEP has no type for
// are not sent.
func TestWebhookCAEP(t *testing.T) {
	rcv, secret := newReceiver(t)
	srv := apptest.New(t, apptest.Backends[0], map[string]string{
		"WEBHOOK_URLS": rcv.srv.URL, "WEBHOOK_SECRET": secret, "WEBHOOK_FORMAT": "caep",
	})
	c := srv.Client()
	p := c.SignUp(t, apptest.UniqueEmail("caep"), password)
	other := srv.Client()
	other.SignIn(t, *p.User.Email, password)
	var changed struct{ ChangePassword apptest.Payload }
	c.Do(t, `mutation($c: String!, $n: String!) { changePassword(currentPassword: $c, newPassword: $n) { accessToken } }`,
		map[string]any{"c": password, "n": "another horse battery"}).Decode(t, &changed)

	evs := dbEvents(t, srv)
	revoked := oneEvent(t, evs, audit.SessionRevoked, [16]byte{})
	pw := oneEvent(t, evs, audit.UserPasswordChanged, [16]byte{})
	rcv.waitFor([]string{revoked.ID.String(), pw.ID.String()}, 10*time.Second)
	time.Sleep(200 * time.Millisecond)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if len(rcv.accepted) != 2 {
		t.Fatalf("receiver got %d events, want the 2 CAEP has types for", len(rcv.accepted))
	}
	check := func(id, uri string) jwt.MapClaims {
		if ct := rcv.types[id]; ct != "application/secevent+jwt" {
			t.Fatalf("content type %q", ct)
		}
		// Signed with gqlauth's current signing key, found by kid as a
		// receiver finds it in the JWKS; the WEBHOOK_SECRET does not verify it.
		keyOf := func(tok *jwt.Token) (any, error) {
			kid, _ := tok.Header["kid"].(string)
			k, ok := srv.Keys.Lookup(kid)
			if !ok {
				return nil, fmt.Errorf("no signing key %q", kid)
			}
			return k.Public(), nil
		}
		tok, err := jwt.Parse(string(rcv.bodies[id]), keyOf,
			jwt.WithValidMethods([]string{"ES256"}), jwt.WithAudience(rcv.srv.URL), jwt.WithIssuer(srv.Config.JWTIssuer))
		if err != nil {
			t.Fatalf("SET %s: %v", rcv.bodies[id], err)
		}
		if tok.Header["typ"] != "secevent+jwt" {
			t.Fatalf("typ %v", tok.Header["typ"])
		}
		claims := tok.Claims.(jwt.MapClaims)
		if claims["jti"] != id {
			t.Fatalf("jti %v, want %s", claims["jti"], id)
		}
		events, _ := claims["events"].(map[string]any)
		if _, ok := events[uri]; !ok || len(events) != 1 {
			t.Fatalf("events %v, want %s", events, uri)
		}
		return claims
	}
	claims := check(revoked.ID.String(), webhook.CAEPSessionRevoked)
	sub, _ := claims["sub_id"].(map[string]any)
	sess, _ := sub["session"].(map[string]any)
	user, _ := sub["user"].(map[string]any)
	if sub["format"] != "complex" || sess["id"] != revoked.SessionID.String() || user["id"] != p.User.ID {
		t.Fatalf("sub_id %v", sub)
	}
	claims = check(pw.ID.String(), webhook.CAEPCredentialChange)
	body := claims["events"].(map[string]any)[webhook.CAEPCredentialChange].(map[string]any)
	if body["credential_type"] != "password" || body["change_type"] != "update" || body["initiating_entity"] != "user" {
		t.Fatalf("credential-change %v", body)
	}
}

// TestWebhooksTwoInstances: two gqlauth instances on one PostgreSQL
// database share the outbox; under a burst, no delivery is posted by both
// at once and every event arrives exactly once.
func TestWebhooksTwoInstances(t *testing.T) {
	b := apptest.Backend{Name: "postgres+redis", Postgres: true, Redis: true}
	rcv, secret := newReceiver(t)
	rcv.delay = 20 * time.Millisecond
	cfg := apptest.Config(t, b, map[string]string{"WEBHOOK_URLS": rcv.srv.URL, "WEBHOOK_SECRET": secret})
	one, two := apptest.Start(t, cfg), apptest.Start(t, cfg)
	var wg sync.WaitGroup
	for i := 0; i < 40; i++ {
		srv := one
		if i%2 == 1 {
			srv = two
		}
		wg.Go(func() { srv.Client().SignUp(t, apptest.UniqueEmail(fmt.Sprintf("burst%d", i)), password) })
	}
	wg.Wait()
	ids := sentEvents(t, one.DB.Client)
	if len(ids) != 40 {
		t.Fatalf("%d events, want 40", len(ids))
	}
	rcv.waitFor(ids, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	if rcv.overlaps != 0 {
		t.Fatalf("%d deliveries were posted twice at once", rcv.overlaps)
	}
	for _, id := range ids {
		if rcv.accepted[id] != 1 {
			t.Fatalf("event %s delivered %d times", id, rcv.accepted[id])
		}
	}
}

// TestWebhooksSurviveKill9 runs the real binary, kills it (SIGKILL)
// while a burst of events is being delivered to a slow receiver, starts
// it again, and checks that every event reaches the receiver at least
// once: the outbox loses nothing.
func TestWebhooksSurviveKill9(t *testing.T) {
	bin := opsBuildBinary(t)
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		rcv, secret := newReceiver(t)
		rcv.delay = 50 * time.Millisecond
		port := opsFreePort(t)
		dbURL := apptest.NewSQLiteDB(t)
		if b.Postgres {
			dbURL = apptest.NewPostgresDB(t)
		}
		env := []string{
			"APP_ENV=test", "PORT=" + strconv.Itoa(port), "DATABASE_URL=" + dbURL,
			"JWT_ACCESS_SECRET=" + apptest.JWTSecret, "BCRYPT_COST=4", "RATE_LIMIT_AUTH=0",
			"WEBHOOK_URLS=" + rcv.srv.URL, "WEBHOOK_SECRET=" + secret,
			"WEBHOOK_TIMEOUT=500ms", "WEBHOOK_RETRY_BASE=50ms", "PATH=" + os.Getenv("PATH"),
			// The restart must open the signing keys the first start sealed.
			"DATA_ENCRYPTION_KEY=" + apptest.DataKey,
		}
		if b.Redis {
			env = append(env, "REDIS_URL="+apptest.RedisURL(), "REDIS_KEY_PREFIX="+apptest.NewRedisPrefix(t))
		}
		base := "http://127.0.0.1:" + strconv.Itoa(port)
		start := func() (*exec.Cmd, chan error) {
			cmd := exec.Command(bin, "serve")
			cmd.Env, cmd.Dir = env, t.TempDir()
			var logs bytes.Buffer
			cmd.Stderr = &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			t.Cleanup(func() {
				cmd.Process.Kill()
				select { // the test may have waited for it already
				case <-exited:
				case <-time.After(5 * time.Second):
				}
			})
			opsWaitReady(t, base+"/readyz", exited, func() string { return "" })
			return cmd, exited
		}
		first, exited := start()
		const burst = 30
		for i := 0; i < burst; i++ {
			body := fmt.Sprintf(`{"query":%q,"variables":{"in":{"email":%q,"password":"correct horse"}}}`,
				opsSignUpDoc, apptest.UniqueEmail(fmt.Sprintf("k%d", i)))
			if r := opsPost(base, fmt.Sprintf("kill-%d", i), body); !r.ok {
				t.Fatalf("sign-up %d: %d %v", i, r.status, r.err)
			}
		}
		// Kill it once some, not all, have been delivered.
		for {
			rcv.mu.Lock()
			n := len(rcv.accepted)
			rcv.mu.Unlock()
			if n >= 3 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		if err := first.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		<-exited
		rcv.mu.Lock()
		before := len(rcv.accepted)
		rcv.mu.Unlock()
		if before >= burst {
			t.Fatalf("all %d delivered before the kill; the test proves nothing", burst)
		}
		t.Logf("%d of %d delivered before SIGKILL", before, burst)
		start()

		db, err := database.Open(context.Background(), dbURL, database.Settings{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		ids := sentEvents(t, db.Client)
		if len(ids) != burst {
			t.Fatalf("%d events, want %d", len(ids), burst)
		}
		rcv.waitFor(ids, 30*time.Second)
	})
}
