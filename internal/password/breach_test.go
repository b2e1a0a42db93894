package password_test

import (
	"context"
	"crypto/sha1" //nolint:gosec // the range API's hash
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/password"
)

// rangeAPI is a local server that speaks the Pwned Passwords range API
// over a corpus of passwords, padding its answers with count-0 decoys as
// the real one does with Add-Padding. It records every request.
type rangeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []*http.Request
	bodies   []string
	status   int
	delay    time.Duration
}

func sha1Hex(s string) string {
	sum := sha1.Sum([]byte(s)) //nolint:gosec // the range API's hash
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

func newRangeAPI(t *testing.T, breached ...string) *rangeAPI {
	t.Helper()
	api := &rangeAPI{status: http.StatusOK}
	corpus := map[string]int{}
	for i, p := range breached {
		corpus[sha1Hex(p)] = 10 + i
	}
	api.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		api.mu.Lock()
		api.requests = append(api.requests, r.Clone(context.Background()))
		api.bodies = append(api.bodies, string(body))
		status, delay := api.status, api.delay
		api.mu.Unlock()
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		prefix, ok := strings.CutPrefix(r.URL.Path, "/range/")
		if !ok || len(prefix) != 5 {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		for full, n := range corpus {
			if strings.HasPrefix(full, prefix) {
				fmt.Fprintf(w, "%s:%d\r\n", full[5:], n)
			}
		}
		// Decoys, one of them a real password's suffix with count 0 (the
		// padding format): count 0 must not count as breached.
		fmt.Fprintf(w, "%s:0\r\n", sha1Hex("padded but not breached")[5:])
		for i := range 20 {
			fmt.Fprintf(w, "%035X:0\r\n", i)
		}
	}))
	t.Cleanup(api.Close)
	return api
}

func (api *rangeAPI) set(status int, delay time.Duration) {
	api.mu.Lock()
	defer api.mu.Unlock()
	api.status, api.delay = status, delay
}

func TestHIBP(t *testing.T) {
	api := newRangeAPI(t, "correct horse battery staple", "Tr0ub4dor&3")
	hibp, err := password.NewHIBP(api.URL+"/", time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, logs := newPolicy(t, password.PolicySettings{Breach: hibp})
	for _, tc := range []struct{ password, want string }{
		{"correct horse battery staple", password.ReasonBreached},
		{"Tr0ub4dor&3", password.ReasonBreached},
		{"tr0ub4dor&3", ""}, // the corpus is case-sensitive, as HIBP's is
		{"padded but not breached", ""},
		{"an unbreached long passphrase", ""},
	} {
		got, err := p.Check(context.Background(), tc.password)
		if err != nil || got != tc.want {
			t.Errorf("Check(%q) = %q, %v; want %q", tc.password, got, err, tc.want)
		}
	}
	// Only 5 hex characters of the SHA-1 left: the path, and nothing else.
	api.mu.Lock()
	defer api.mu.Unlock()
	if len(api.requests) != 5 {
		t.Fatalf("%d requests, want 5", len(api.requests))
	}
	for i, r := range api.requests {
		prefix, _ := strings.CutPrefix(r.URL.Path, "/range/")
		if len(prefix) != 5 || strings.Trim(prefix, "0123456789ABCDEF") != "" || r.URL.RawQuery != "" || api.bodies[i] != "" {
			t.Errorf("request %d: %s %s?%s body %q; want GET /range/<5 hex> and nothing more", i, r.Method, r.URL.Path, r.URL.RawQuery, api.bodies[i])
		}
		if r.Header.Get("Add-Padding") != "true" {
			t.Errorf("request %d lacks Add-Padding: true", i)
		}
	}
	if strings.Contains(logs.String(), "breach") {
		t.Errorf("logged warnings while the API answered: %s", logs)
	}
}

// TestHIBPFailOpen: when the API fails or is slow the password is
// accepted, a warning is logged, and the check takes no longer than its
// timeout.
func TestHIBPFailOpen(t *testing.T) {
	api := newRangeAPI(t, "correct horse battery staple")
	hibp, err := password.NewHIBP(api.URL, 200*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		status int
		delay  time.Duration
	}{
		{"server error", http.StatusServiceUnavailable, 0},
		{"too slow", http.StatusOK, 5 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api.set(tc.status, tc.delay)
			p, logs := newPolicy(t, password.PolicySettings{Breach: hibp})
			start := time.Now()
			got, err := p.Check(context.Background(), "correct horse battery staple")
			if err != nil || got != "" {
				t.Errorf("Check = %q, %v; want accepted (fail-open)", got, err)
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Errorf("took %s with a 200ms timeout", took)
			}
			if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "fail-open") {
				t.Errorf("no warning logged: %q", logs)
			}
			if strings.Contains(logs.String(), sha1Hex("correct horse battery staple")[:5]) {
				t.Errorf("the log holds the hash prefix: %q", logs)
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		h, _ := password.NewHIBP(url, time.Second, nil)
		p, logs := newPolicy(t, password.PolicySettings{Breach: h})
		if got, err := p.Check(context.Background(), "correct horse battery staple"); err != nil || got != "" {
			t.Errorf("Check = %q, %v; want accepted", got, err)
		}
		if !strings.Contains(logs.String(), "level=WARN") {
			t.Errorf("no warning logged: %q", logs)
		}
	})
	t.Run("caller gone", func(t *testing.T) {
		api.set(http.StatusOK, 5*time.Second)
		p, _ := newPolicy(t, password.PolicySettings{Breach: hibp})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := p.Check(ctx, "correct horse battery staple"); err == nil {
			t.Error("Check of a cancelled request returned no error")
		}
	})
}

func TestNewHIBP(t *testing.T) {
	for _, bad := range []string{"", "ftp://example.com", "not a url", "https://"} {
		if _, err := password.NewHIBP(bad, time.Second, nil); err == nil {
			t.Errorf("NewHIBP(%q) accepted", bad)
		}
	}
	if _, err := password.NewHIBP(password.DefaultBreachAPI, 0, nil); err == nil {
		t.Error("zero timeout accepted")
	}
}
