package server

import (
	"net/http"

	"github.com/gqlauth/gqlauth/examples/spa"
)

// mountExamples serves the example single-page app at /examples/spa/
// (EXAMPLES_ENABLED). It calls /graphql on the same origin, so it needs
// no CORS setting.
func mountExamples(mux *http.ServeMux) {
	files := http.StripPrefix("/examples/spa/", http.FileServerFS(spa.Files))
	mux.Handle("GET /examples/spa/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Always revalidate, so an upgraded gqlauth serves the new app.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
}
