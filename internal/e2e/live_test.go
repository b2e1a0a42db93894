package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

const sessionEventsDoc = `subscription { sessionEvents { type sessionId at } }`

// sseEvent is one event of a Server-Sent Events stream.
type sseEvent struct {
	name string
	data string
}

// subscribe opens sessionEvents on srv with the access token and returns
// the HTTP status, the content type and the stream's events as they come
// (the channel closes when the stream ends).
func subscribe(t *testing.T, srv *apptest.Server, token string) (int, string, <-chan sseEvent) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": sessionEventsDoc})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL(), strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out := make(chan sseEvent, 16)
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.name != "" {
					out <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data:"):
				ev.data += strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			}
		}
	}()
	return res.StatusCode, res.Header.Get("Content-Type"), out
}

// nextEvent waits up to d for the stream's next event.
func nextEvent(t *testing.T, events <-chan sseEvent, d time.Duration) (sseEvent, bool) {
	t.Helper()
	select {
	case ev, ok := <-events:
		return ev, ok
	case <-time.After(d):
		t.Fatalf("no event within %s", d)
	}
	return sseEvent{}, false
}

// wantRevoked fails unless the stream's next events are REVOKED for sid
// and complete, and the stream then ends.
func wantRevoked(t *testing.T, events <-chan sseEvent, sid string) {
	t.Helper()
	ev, ok := nextEvent(t, events, 5*time.Second)
	var next struct {
		Data struct {
			SessionEvents struct{ Type, SessionID string }
		}
		Errors []apptest.Error
	}
	if !ok || ev.name != "next" || json.Unmarshal([]byte(ev.data), &next) != nil ||
		next.Data.SessionEvents.Type != "REVOKED" || next.Data.SessionEvents.SessionID != sid {
		t.Fatalf("want REVOKED for %s, got %+v (%v)", sid, ev, ok)
	}
	if ev, ok := nextEvent(t, events, 5*time.Second); !ok || ev.name != "complete" {
		t.Fatalf("want complete after REVOKED, got %+v (%v)", ev, ok)
	}
	if _, ok := nextEvent(t, events, 5*time.Second); ok {
		t.Fatal("the stream went on after complete")
	}
}

// TestSessionEventsOverSSE: a client subscribed with its access token
// hears REVOKED when its session is ended elsewhere (a global logout from
// another device), and the stream closes; ROLE_CHANGED reaches every
// session of the user; another user's logout is not heard.
func TestSessionEventsOverSSE(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		email := apptest.UniqueEmail("live")
		tab := srv.Client()
		p := tab.SignUp(t, email, password)
		sid := dbToken(t, srv, *p.RefreshToken).SessionID.String()
		status, ct, events := subscribe(t, srv, p.AccessToken)
		if status != http.StatusOK || !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("subscribe: %d %s", status, ct)
		}
		// Someone else's logout is not this stream's business.
		other := srv.Client()
		other.SignUp(t, apptest.UniqueEmail("other"), password)
		wantOK(t, logout(t, other, "GLOBAL", ""))

		admin := newAdmin(t, srv, "liveadmin")
		wantOK(t, admin.Do(t, `mutation($id: ID!) { setUserRole(id: $id, role: ADMIN) { id } }`, map[string]any{"id": p.User.ID}))
		ev, _ := nextEvent(t, events, 5*time.Second)
		if !strings.Contains(ev.data, `"ROLE_CHANGED"`) {
			t.Fatalf("want ROLE_CHANGED, got %+v", ev)
		}

		phone := srv.Client()
		phone.SignIn(t, email, password)
		start := time.Now()
		wantOK(t, logout(t, phone, "GLOBAL", ""))
		wantRevoked(t, events, sid)
		t.Logf("REVOKED arrived %s after the logout", time.Since(start))
		if n := srv.Live.Open(); n != 0 {
			t.Fatalf("%d streams still open", n)
		}
	})
}

// TestSessionEventsAcrossInstances: with Redis, the instance that ends a
// session tells the stream held by another instance.
func TestSessionEventsAcrossInstances(t *testing.T) {
	b := apptest.Backend{Name: "postgres+redis", Postgres: true, Redis: true}
	cfg := apptest.Config(t, b, nil)
	one, two := apptest.Start(t, cfg), apptest.Start(t, cfg)
	c := one.Client()
	p := c.SignUp(t, apptest.UniqueEmail("across"), password)
	sid := dbToken(t, one, *p.RefreshToken).SessionID.String()
	_, _, events := subscribe(t, one, p.AccessToken)
	waitStreams(t, one, 1)
	other := two.Client()
	other.Token = p.AccessToken
	wantOK(t, other.Do(t, revokeSessionDoc, map[string]any{"id": sid}))
	wantRevoked(t, events, sid)
}

// waitStreams waits until srv holds n open streams.
func waitStreams(t *testing.T, srv *apptest.Server, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Live.Open() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d streams open, want %d", srv.Live.Open(), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSessionEventsLimitsAndRules: the stream ends when the access token
// expires; SSE_MAX_CONNECTIONS bounds the open streams; no token is
// UNAUTHENTICATED; a subscription over plain JSON, and a query over SSE,
// are refused; a session already ended is told at once.
func TestSessionEventsLimitsAndRules(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"JWT_ACCESS_EXPIRES_IN": "2s", "SSE_MAX_CONNECTIONS": "1"})
	c := srv.Client()
	p := c.SignUp(t, apptest.UniqueEmail("limits"), password)

	_, _, events := subscribe(t, srv, p.AccessToken)
	waitStreams(t, srv, 1)
	_, _, second := subscribe(t, srv, p.AccessToken)
	ev, _ := nextEvent(t, second, 5*time.Second)
	if ev.name != "next" || !strings.Contains(ev.data, "TOO_MANY_REQUESTS") {
		t.Fatalf("a second stream over SSE_MAX_CONNECTIONS=1: %+v", ev)
	}
	start := time.Now()
	if ev, ok := nextEvent(t, events, 10*time.Second); !ok || ev.name != "complete" {
		t.Fatalf("want complete at the token's expiry, got %+v %v", ev, ok)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Fatalf("the stream outlived its token by %s", took)
	}
	waitStreams(t, srv, 0)

	_, _, anon := subscribe(t, srv, "")
	if ev, _ := nextEvent(t, anon, 5*time.Second); !strings.Contains(ev.data, "UNAUTHENTICATED") {
		t.Fatalf("without a token: %+v", ev)
	}
	res := c.Do(t, sessionEventsDoc, nil)
	wantCode(t, res, "SUBSCRIPTION_TRANSPORT")

	body := `{"query":"{ me { id } }"}`
	req, _ := http.NewRequest(http.MethodPost, srv.URL(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	r := c.Send(t, req)
	if r.Status != http.StatusBadRequest || r.Code() != "SUBSCRIPTION_TRANSPORT" {
		t.Fatalf("a query over SSE: %d %s", r.Status, r.Body)
	}

	// A token whose session ended a moment ago (the deny list is not
	// consulted by this race check, the database is).
	p2 := c.SignIn(t, *p.User.Email, password)
	sid := dbToken(t, srv, *p2.RefreshToken).SessionID
	srv.DB.Session.UpdateOneID(sid).SetRevokedAt(time.Now()).ExecX(context.Background())
	_, _, ended := subscribe(t, srv, p2.AccessToken)
	wantRevoked(t, ended, sid.String())
}

// TestSPASignsOutWhenEndedElsewhere: two browser profiles signed in to
// one account; "Sign out everywhere" in one, and the other shows
// signed-out within a second, without a request of its own.
func TestSPASignsOutWhenEndedElsewhere(t *testing.T) {
	srv := apptest.New(t, apptest.Backends[0], map[string]string{"EXAMPLES_ENABLED": "true"})
	browser := newBrowser(t)
	profile := func() context.Context {
		ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
		t.Cleanup(cancel)
		if err := chromedp.Do(ctx); err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	a, b := profile(), profile()
	app := srv.HTTP.URL + "/examples/spa/"
	email := apptest.UniqueEmail("everywhere")
	signIn := func(ctx context.Context, form string) {
		t.Helper()
		step(t, ctx, "open the app", chromedp.Navigate(app))
		step(t, ctx, "wait for signed-out", chromedp.Poll[chromedp.Void](`document.body.dataset.state === "signed-out"`))
		step(t, ctx, "fill in "+form, chromedp.Steps(
			chromedp.SendKeys(chromedp.ID(form+"-email"), email),
			chromedp.SendKeys(chromedp.ID(form+"-password"), password),
			chromedp.Click(chromedp.CSS("#"+form+"-form button[type=submit]")),
		))
		step(t, ctx, "wait for signed-in", chromedp.Poll[chromedp.Void](`document.body.dataset.state === "signed-in"`))
	}
	signIn(a, "signup")
	signIn(b, "signin")
	waitStreams(t, srv, 2)

	step(t, a, "sign out everywhere", chromedp.Click(chromedp.ID("logout-everywhere-button")))
	step(t, a, "wait for signed-out", chromedp.Poll[chromedp.Void](`document.body.dataset.state === "signed-out"`))
	start := time.Now()
	ctx, cancel := context.WithTimeout(b, time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](`document.body.dataset.state === "signed-out"`)); err != nil {
		t.Fatalf("the other profile still shows signed-in a second later: %v", err)
	}
	t.Logf("the other profile signed out %s after the first did", time.Since(start))
	status := step(t, b, "read status", chromedp.Evaluate[string](`document.getElementById("status").textContent`))
	if !strings.Contains(status, "another device") {
		t.Fatalf("status %q", status)
	}
}
