package server_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gqlauth/gqlauth/internal/apptest"
)

// meQuery is the authenticated read a client makes on every page load.
var meQuery = []byte(`{"query":"query { me { id email username role } }"}`)

// BenchmarkMeRequest measures the whole `me` request in-process: the
// middleware, gqlgen (with its query cache warm), the access-token check,
// the deny-list lookup and the user's SELECT, and the JSON response.
func BenchmarkMeRequest(b *testing.B) {
	for _, backend := range apptest.Backends {
		b.Run(backend.Name, func(b *testing.B) { benchmarkMe(b, backend) })
	}
}

func benchmarkMe(b *testing.B, backend apptest.Backend) {
	srv := apptest.New(b, backend, nil)
	c := srv.Client()
	me := c.SignUp(b, apptest.UniqueEmail("me"), "correct horse battery")
	auth := "Bearer " + me.AccessToken
	want := []byte(me.User.ID)
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(meQuery))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		srv.Handler.ServeHTTP(rec, req)
		body := rec.Body.Bytes()
		if rec.Code != http.StatusOK || bytes.Contains(body, []byte(`"errors"`)) || !bytes.Contains(body, want) {
			b.Fatalf("me: %d %s", rec.Code, body)
		}
	}
}
