package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/authn"
	"github.com/gqlauth/gqlauth/internal/session"
)

// get fetches a path of the server and returns the status and body.
func opsGet(t *testing.T, url string, header http.Header) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, body
}

type opsReadyBody struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func opsReadyz(t *testing.T, srv *apptest.Server) (int, opsReadyBody) {
	t.Helper()
	status, _, raw := opsGet(t, srv.HTTP.URL+"/readyz", nil)
	var body opsReadyBody
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("/readyz body %q: %v", raw, err)
	}
	return status, body
}

func TestHealthAndReadiness(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		status, _, raw := opsGet(t, srv.HTTP.URL+"/healthz", nil)
		if status != http.StatusOK || !strings.Contains(string(raw), `"ok"`) {
			t.Fatalf("/healthz = %d %s", status, raw)
		}
		status, body := opsReadyz(t, srv)
		if status != http.StatusOK || body.Status != "ok" || body.Checks["database"] != "ok" {
			t.Fatalf("/readyz = %d %+v", status, body)
		}
		if _, checked := body.Checks["redis"]; checked != b.Redis {
			t.Fatalf("/readyz checks %v; redis configured: %v", body.Checks, b.Redis)
		}
		if b.Redis && body.Checks["redis"] != "ok" {
			t.Fatalf("/readyz redis = %q", body.Checks["redis"])
		}

		// Shutting down: not ready any more, still alive.
		srv.App.BeginShutdown()
		if status, body := opsReadyz(t, srv); status != http.StatusServiceUnavailable || body.Status != "shutting_down" {
			t.Fatalf("/readyz while shutting down = %d %+v", status, body)
		}
		if status, _, _ := opsGet(t, srv.HTTP.URL+"/healthz", nil); status != http.StatusOK {
			t.Fatalf("/healthz while shutting down = %d", status)
		}
	})
}

// TestReadinessNamesWhatIsDown points REDIS_URL at a port nobody listens
// on: the server starts, /healthz stays 200, /readyz is 503 and names redis.
func TestReadinessNamesWhatIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	srv := apptest.New(t, apptest.Backend{Name: "sqlite"}, map[string]string{"REDIS_URL": "redis://" + addr + "/0"})
	status, body := opsReadyz(t, srv)
	if status != http.StatusServiceUnavailable || body.Status != "unavailable" ||
		body.Checks["redis"] != "down" || body.Checks["database"] != "ok" {
		t.Fatalf("/readyz with Redis down = %d %+v", status, body)
	}
	if !strings.Contains(srv.Logs.String(), "readiness check failed") {
		t.Fatalf("the failed check was not logged:\n%s", srv.Logs.String())
	}
	if status, _, _ := opsGet(t, srv.HTTP.URL+"/healthz", nil); status != http.StatusOK {
		t.Fatalf("/healthz with Redis down = %d, want 200 (liveness has no dependencies)", status)
	}

	// Authenticated requests fail closed, and the failed lookup is counted.
	c := srv.Client()
	c.SignUp(t, apptest.UniqueEmail("redisdown"), "correct horse")
	if res := c.Do(t, opsMeDoc, nil); res.Code() != "SERVICE_UNAVAILABLE" {
		t.Fatalf("me with Redis down: %s", res.Body)
	}
	fams := opsScrape(t, srv.HTTP.URL+"/metrics")
	if got := opsValue(fams, "gqlauth_deny_list_lookups_total", map[string]string{"result": "error"}); got != 1 {
		t.Fatalf("deny-list lookup errors = %v, want 1", got)
	}
	if got := opsValue(fams, "gqlauth_graphql_requests_total", map[string]string{"operation": "Me", "code": "SERVICE_UNAVAILABLE"}); got != 1 {
		t.Fatalf("Me SERVICE_UNAVAILABLE = %v, want 1", got)
	}
}

// scrape reads the metrics an http.Handler serves.
func opsScrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	status, _, raw := opsGet(t, url, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s = %d %s", url, status, raw)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatalf("metrics are not in the Prometheus text format: %v", err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want, or -1 when there is none.
func opsValue(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f, ok := fams[name]
	if !ok {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue()
		case m.Gauge != nil:
			return m.GetGauge().GetValue()
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount())
		}
	}
	return -1
}

const (
	opsSignUpDoc  = `mutation SignUp($in: SignUpInput!) { signUp(input: $in) { accessToken refreshToken } }`
	opsSignInDoc  = `mutation SignIn($in: SignInInput!) { signIn(input: $in) { accessToken refreshToken } }`
	opsRefreshDoc = `mutation Refresh($t: String) { refresh(refreshToken: $t) { accessToken refreshToken } }`
	opsMeDoc      = `query Me { me { id } }`
)

func TestMetrics(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, map[string]string{"REFRESH_REUSE_GRACE": "0s"})
		c := srv.Client()
		email := apptest.UniqueEmail("metrics")
		creds := map[string]any{"email": email, "password": "correct horse"}
		var up struct {
			SignUp struct{ AccessToken, RefreshToken string }
		}
		c.Do(t, opsSignUpDoc, map[string]any{"in": creds}).Decode(t, &up)

		if res := c.Do(t, opsSignInDoc, map[string]any{"in": map[string]any{"email": email, "password": "wrong horse"}}); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("wrong password: %s", res.Body)
		}
		var in struct {
			SignIn struct{ AccessToken, RefreshToken string }
		}
		c.Do(t, opsSignInDoc, map[string]any{"in": creds}).Decode(t, &in)
		c.Token = in.SignIn.AccessToken
		c.Do(t, opsMeDoc, nil).Decode(t, &struct{}{})

		var rot struct {
			Refresh struct{ AccessToken, RefreshToken string }
		}
		c.Do(t, opsRefreshDoc, map[string]any{"t": up.SignUp.RefreshToken}).Decode(t, &rot)
		// The rotated token again, with no grace window: a replay.
		if res := c.Do(t, opsRefreshDoc, map[string]any{"t": up.SignUp.RefreshToken}); res.Code() != "UNAUTHENTICATED" {
			t.Fatalf("replay: %s", res.Body)
		}
		if res := c.Do(t, `query Broken { nope }`, nil); res.Code() == "" {
			t.Fatalf("invalid query passed: %s", res.Body)
		}

		fams := opsScrape(t, srv.HTTP.URL+"/metrics")
		for _, tc := range []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"gqlauth_graphql_requests_total", map[string]string{"operation": "SignUp", "code": "OK"}, 1},
			{"gqlauth_graphql_requests_total", map[string]string{"operation": "SignIn", "code": "OK"}, 1},
			{"gqlauth_graphql_requests_total", map[string]string{"operation": "SignIn", "code": "UNAUTHENTICATED"}, 1},
			{"gqlauth_graphql_requests_total", map[string]string{"operation": "Refresh", "code": "UNAUTHENTICATED"}, 1},
			{"gqlauth_graphql_requests_total", map[string]string{"operation": "invalid", "code": "GRAPHQL_VALIDATION_FAILED"}, 1},
			{"gqlauth_graphql_request_duration_seconds", map[string]string{"operation": "Refresh"}, 2},
			{"gqlauth_sign_ins_total", map[string]string{"result": authn.SignInSuccess}, 1},
			{"gqlauth_sign_ins_total", map[string]string{"result": authn.SignInFailure}, 1},
			{"gqlauth_refreshes_total", map[string]string{"result": session.RefreshRotated}, 1},
			{"gqlauth_refreshes_total", map[string]string{"result": session.RefreshReuseDetected}, 1},
			{"gqlauth_refresh_reuse_detections_total", nil, 1},
			{"gqlauth_deny_list_lookups_total", map[string]string{"result": "allowed"}, 1},
			{"gqlauth_deny_list_lookups_total", map[string]string{"result": "error"}, 0},
		} {
			if got := opsValue(fams, tc.name, tc.labels); got != tc.want {
				t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
			}
		}
		if got := opsValue(fams, "go_sql_max_open_connections", map[string]string{"db_name": "gqlauth"}); got <= 0 {
			t.Errorf("database pool stats missing: go_sql_max_open_connections = %v", got)
		}
	})
}

func TestMetricsSettings(t *testing.T) {
	off := apptest.New(t, apptest.Backend{Name: "sqlite"}, map[string]string{"METRICS_ENABLED": "false"})
	if status, _, _ := opsGet(t, off.HTTP.URL+"/metrics", nil); status != http.StatusNotFound {
		t.Fatalf("/metrics with METRICS_ENABLED=false = %d, want 404", status)
	}
	apart := apptest.New(t, apptest.Backend{Name: "sqlite"}, map[string]string{"METRICS_ADDR": "127.0.0.1:0"})
	if status, _, _ := opsGet(t, apart.HTTP.URL+"/metrics", nil); status != http.StatusNotFound {
		t.Fatalf("/metrics on the main port with METRICS_ADDR set = %d, want 404", status)
	}
	if apart.App.MetricsHandler == nil {
		t.Fatal("METRICS_ADDR set but no metrics handler for it")
	}
	ms := httptest.NewServer(apart.App.MetricsHandler)
	defer ms.Close()
	if fams := opsScrape(t, ms.URL); fams["gqlauth_sign_ins_total"] == nil {
		t.Fatal("the separate metrics handler lacks gqlauth_sign_ins_total")
	}
}
