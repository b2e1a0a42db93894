// Package apptest runs a real gqlauth for tests: real SQLite or
// PostgreSQL, the in-process or the Redis deny list, and the real HTTP
// handler behind httptest. Each test gets its own database and Redis key
// prefix, removed when it ends.
//
// PostgreSQL comes from TEST_DATABASE_URL and Redis from TEST_REDIS_URL.
// When one cannot be reached the tests that need it are skipped on a
// developer's machine, and fail when CI=true.
package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/internal/app"
	"github.com/gqlauth/gqlauth/internal/config"
)

// Backend is one combination of database and deny list to run tests on.
type Backend struct {
	Name     string
	Postgres bool
	Redis    bool
}

// Backends are the combinations the end-to-end tests run on: each
// database and each deny list at least once.
var Backends = []Backend{
	{Name: "sqlite+memory"},
	{Name: "postgres+redis", Postgres: true, Redis: true},
}

// AllBackends adds the two mixed combinations, for the session tests.
var AllBackends = []Backend{
	{Name: "sqlite+memory"},
	{Name: "sqlite+redis", Redis: true},
	{Name: "postgres+memory", Postgres: true},
	{Name: "postgres+redis", Postgres: true, Redis: true},
}

// ForEach runs fn as a subtest once per backend.
func ForEach(t *testing.T, backends []Backend, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

func inCI() bool { return os.Getenv("CI") == "true" }

// unavailable skips the test, or fails it in CI.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if inCI() {
		t.Fatalf("%s is required when CI=true but unreachable: %v", what, err)
	}
	t.Skipf("%s unreachable, skipping (set CI=true to make this a failure): %v", what, err)
}

// PostgresURL is the server tests create their databases on.
func PostgresURL() string {
	if u := os.Getenv("TEST_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// RedisURL is the Redis tests use, with their own key prefix.
func RedisURL() string {
	if u := os.Getenv("TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// NewPostgresDB creates a fresh, empty database and returns its URL; it
// is dropped when the test ends.
func NewPostgresDB(t testing.TB) string {
	t.Helper()
	admin, err := sql.Open("pgx", PostgresURL())
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = admin.PingContext(ctx)
		cancel()
	}
	if err != nil {
		unavailable(t, "PostgreSQL ("+PostgresURL()+")", err)
	}
	name := "gqlauth_test_" + strings.ToLower(rand.Text()[:12])
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() {
		_, err := admin.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)")
		if err != nil {
			t.Errorf("drop test database %s: %v", name, err)
		}
		admin.Close()
	})
	u, _ := url.Parse(PostgresURL())
	u.Path = "/" + name
	return u.String()
}

// NewSQLiteDB returns the URL of a new SQLite file in the test's temp dir.
func NewSQLiteDB(t testing.TB) string {
	return "sqlite://" + filepath.Join(t.TempDir(), "gqlauth.db")
}

// NewRedisPrefix checks Redis and returns a key prefix of the test's own;
// its keys are deleted when the test ends.
func NewRedisPrefix(t testing.TB) string {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("TEST_REDIS_URL: %v", err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		unavailable(t, "Redis ("+RedisURL()+")", err)
	}
	prefix := "gqlauth-test:" + rand.Text()[:12] + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		rdb.Close()
	})
	return prefix
}

// JWTSecret is a JWT_ACCESS_SECRET for tests of the legacy HS256 key
// (pass it as an override): random-looking, so that production mode
// (which refuses guessable secrets) accepts it too.
const JWTSecret = "kQ7vZ2xN9pL4wR8tY1bE6mH3sJ5cF0gA-uD_iO2qW7eXnB4"

// DataKey is every test server's DATA_ENCRYPTION_KEY.
const DataKey = "Jm4Qd8vX2bN7kR1tY5wE9hL3sC6fG0aZuP2iO8yT4eU="

// Config returns the configuration of a test server on backend b: bcrypt
// at its minimum cost, a fixed data encryption key (so the server makes
// an ES256 signing key of its own at start), and the given overrides
// (variable name to value, as in the environment).
func Config(t testing.TB, b Backend, overrides map[string]string) *config.Config {
	t.Helper()
	vars := map[string]string{
		"APP_ENV":             "test",
		"BCRYPT_COST":         "4",
		"DATA_ENCRYPTION_KEY": DataKey,
		// Every test client is 127.0.0.1: the per-address limit of
		// credential requests is off unless a test turns it on.
		"RATE_LIMIT_AUTH": "0",
	}
	if b.Postgres {
		vars["DATABASE_URL"] = NewPostgresDB(t)
	} else {
		vars["DATABASE_URL"] = NewSQLiteDB(t)
	}
	if b.Redis {
		vars["REDIS_URL"] = RedisURL()
		vars["REDIS_KEY_PREFIX"] = NewRedisPrefix(t)
	}
	for k, v := range overrides {
		vars[k] = v
	}
	cfg, err := config.FromEnv(vars)
	if err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

// Server is a gqlauth served by httptest.
type Server struct {
	*app.App
	HTTP *httptest.Server
	// Logs holds everything the server logged.
	Logs *SyncBuffer

	closeOnce sync.Once
	stopMail  func()
}

// Start builds gqlauth from cfg and serves it until the test ends.
// dbOpts reach the ent client, e.g. ent.Debug() and ent.Log to count the
// SQL queries a request makes.
func Start(t testing.TB, cfg *config.Config, dbOpts ...ent.Option) *Server {
	t.Helper()
	return StartOn(t, nil, cfg, dbOpts...)
}

// Listen reserves a loopback port for StartOn, for a test whose
// configuration names the server's own address (WEBAUTHN_ORIGINS).
func Listen(t testing.TB) (ln net.Listener, port string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	_, port, _ = net.SplitHostPort(ln.Addr().String())
	return ln, port
}

// StartOn is Start serving on ln (from Listen); a nil ln is a new port.
func StartOn(t testing.TB, ln net.Listener, cfg *config.Config, dbOpts ...ent.Option) *Server {
	t.Helper()
	logs := &SyncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, log, dbOpts...)
	if err != nil {
		t.Fatalf("start gqlauth: %v", err)
	}
	hs := httptest.NewUnstartedServer(a.Handler)
	if ln != nil {
		hs.Listener.Close()
		hs.Listener = ln
	}
	hs.Start()
	s := &Server{App: a, HTTP: hs, Logs: logs}
	// The mail worker runs as in cmd/gqlauth, until Close.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.RunMail(ctx)
	}()
	s.stopMail = func() { cancel(); <-done }
	t.Cleanup(s.Close)
	return s
}

// Close stops the server and releases its database and Redis connections,
// leaving the database and Redis keys in place: a test that restarts
// gqlauth closes one Server and Starts another with the same Config. The
// database and key prefix are removed when the test ends (cleanups
// registered by Config run after those of Start). Closing twice is safe.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.HTTP.Close()
		s.stopMail()
		s.App.Close()
	})
}

// New is Start(t, Config(t, b, overrides)).
func New(t testing.TB, b Backend, overrides map[string]string) *Server {
	t.Helper()
	return Start(t, Config(t, b, overrides))
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers (the logger).
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Client is a GraphQL client of a test server. It keeps cookies like a
// browser and, when Token is set, sends it as a bearer token.
type Client struct {
	srv   *Server
	HTTP  *http.Client
	Token string
	// Header is sent with every request.
	Header http.Header
}

// Client returns a new client with an empty cookie jar.
func (s *Server) Client() *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{srv: s, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second}, Header: http.Header{}}
}

// URL is the server's GraphQL endpoint.
func (s *Server) URL() string { return s.HTTP.URL + "/graphql" }

// Response is a GraphQL response.
type Response struct {
	Status int
	Header http.Header
	Data   json.RawMessage `json:"data"`
	Errors []Error         `json:"errors"`
	Body   []byte          `json:"-"`
}

// Error is one GraphQL error.
type Error struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

// Code is the error's extensions.code.
func (e Error) Code() string { s, _ := e.Extensions["code"].(string); return s }

// Code returns the code of the first error, or "" when there is none.
func (r *Response) Code() string {
	if len(r.Errors) == 0 {
		return ""
	}
	return r.Errors[0].Code()
}

// Decode unmarshals data into v, failing the test on errors.
func (r *Response) Decode(t testing.TB, v any) {
	t.Helper()
	if len(r.Errors) > 0 {
		t.Fatalf("unexpected GraphQL errors: %s", r.Body)
	}
	if err := json.Unmarshal(r.Data, v); err != nil {
		t.Fatalf("decode data %s: %v", r.Data, err)
	}
}

// Do posts a GraphQL document with variables as JSON and returns the
// response. Transport failures fail the test.
func (c *Client) Do(t testing.TB, query string, vars map[string]any) *Response {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	return c.Post(t, "application/json", body)
}

// Post sends a raw body with the given content type to /graphql.
func (c *Client) Post(t testing.TB, contentType string, body []byte) *Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.srv.URL(), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	return c.Send(t, req)
}

// Send sends req with the client's token, headers and cookies.
func (c *Client) Send(t testing.TB, req *http.Request) *Response {
	t.Helper()
	for k, v := range c.Header {
		req.Header[k] = v
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &Response{Status: res.StatusCode, Header: res.Header, Body: raw}
	if strings.Contains(res.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("response is not JSON (%d): %s", res.StatusCode, raw)
		}
	}
	return out
}

// Cookie returns the value of a cookie the client holds for /graphql.
func (c *Client) Cookie(name string) string {
	u, _ := url.Parse(c.srv.URL())
	for _, ck := range c.HTTP.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// Payload is the AuthPayload fields tests read.
type Payload struct {
	AccessToken  string  `json:"accessToken"`
	RefreshToken *string `json:"refreshToken"`
	TokenType    string  `json:"tokenType"`
	ExpiresIn    int     `json:"expiresIn"`
	User         struct {
		ID       string  `json:"id"`
		Email    *string `json:"email"`
		Username *string `json:"username"`
		Role     string  `json:"role"`
	} `json:"user"`
}

// PayloadFields selects every AuthPayload field Payload has.
const PayloadFields = `accessToken refreshToken tokenType expiresIn user { id email username role }`

// SignUp creates an account with the email and password and returns its
// payload; the client keeps the access token.
func (c *Client) SignUp(t testing.TB, email, password string) Payload {
	t.Helper()
	res := c.Do(t, `mutation($in: SignUpInput!) { signUp(input: $in) { `+PayloadFields+` } }`,
		map[string]any{"in": map[string]any{"email": email, "password": password}})
	var out struct{ SignUp Payload }
	res.Decode(t, &out)
	c.Token = out.SignUp.AccessToken
	return out.SignUp
}

// SignIn signs in with email and password; the client keeps the access token.
func (c *Client) SignIn(t testing.TB, email, password string) Payload {
	t.Helper()
	res := c.Do(t, `mutation($in: SignInInput!) { signIn(input: $in) { `+PayloadFields+` } }`,
		map[string]any{"in": map[string]any{"email": email, "password": password}})
	var out struct{ SignIn Payload }
	res.Decode(t, &out)
	c.Token = out.SignIn.AccessToken
	return out.SignIn
}

// UniqueEmail returns an address no other test uses.
func UniqueEmail(name string) string {
	return fmt.Sprintf("%s-%s@example.com", name, strings.ToLower(rand.Text()[:8]))
}
