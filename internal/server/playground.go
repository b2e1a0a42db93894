package server

import (
	"bytes"
	"embed"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"path"
	"time"

	"github.com/gqlauth/gqlauth/internal/server/playground"
)

// playgroundDocument is the example document the playground opens with:
// one named operation per query and mutation gqlauth offers.
//
//go:embed playground.graphql
var playgroundDocument string

//go:embed playground.html
var playgroundHTML string

// playgroundScript starts GraphiQL, or says why it cannot. It is a file
// rather than an inline script so that the CSP allows scripts from
// 'self' only.
//
//go:embed playground.js
var playgroundScript []byte

// playgroundDist holds the GraphiQL, React and ReactDOM files of
// playground.Assets, copied from the pinned npm packages by `make
// generate`.
//
//go:embed playground/dist
var playgroundDist embed.FS

var playgroundPage = template.Must(template.New("playground").Parse(playgroundHTML))

// playgroundVariables and playgroundHeaders fill the Variables and
// Headers editors: placeholders to replace with ids and the access token.
const (
	playgroundVariables = `{
  "userId": "paste a user id (from SignUp or Me)",
  "tokenId": "paste a refresh token id (from RefreshTokens)"
}`
	playgroundHeaders = `{
  "Authorization": "Bearer "
}`
)

// playgroundPrefix is where the playground's files are served.
const playgroundPrefix = "/playground/"

// playgroundFile is a script or style sheet the page loads.
type playgroundFile struct{ URL, SRI string }

// playgroundConfig is what playground.js is handed, as JSON.
type playgroundConfig struct {
	Endpoint         string `json:"endpoint"`
	DefaultQuery     string `json:"defaultQuery"`
	DefaultVariables string `json:"defaultVariables"`
	DefaultHeaders   string `json:"defaultHeaders"`
}

// playgroundData is what playground.html is rendered with.
type playgroundData struct {
	Title           string
	Config          playgroundConfig
	Styles, Scripts []playgroundFile
	Script          string
}

// playgroundHandler serves GraphiQL for endpoint, opened on the example
// document with the Authorization header ready for a token. gqlgen's
// playground.Handler cannot set a default document and loads GraphiQL
// from a CDN, hence this page.
func playgroundHandler(title, endpoint string) http.Handler {
	data := playgroundData{
		Title: title,
		Config: playgroundConfig{
			Endpoint:         endpoint,
			DefaultQuery:     playgroundDocument,
			DefaultVariables: playgroundVariables,
			DefaultHeaders:   playgroundHeaders,
		},
		Script: playgroundPrefix + "playground.js",
	}
	for _, a := range playground.Assets {
		f := playgroundFile{URL: playgroundPrefix + a.Path(), SRI: a.SRI}
		if path.Ext(a.File) == ".css" {
			data.Styles = append(data.Styles, f)
		} else {
			data.Scripts = append(data.Scripts, f)
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := playgroundPage.Execute(w, data); err != nil {
			http.Error(w, "playground unavailable", http.StatusInternalServerError)
		}
	})
}

// playgroundFiles serves playground.js and the files of playground.Assets
// under playgroundPrefix. The assets' paths name their package version,
// so browsers may keep them for a year; playground.js is revalidated.
// Each answer reads the embedded file where the binary holds it: copied
// out at start, GraphiQL's 1.6 MB stayed on the heap for the life of the
// process, raising the garbage collector's target by as much, whether or
// not anyone opened the playground.
func playgroundFiles() http.Handler {
	type file struct {
		embedded    string // the path in playgroundDist; "" for playground.js
		etag, cache string
	}
	files := map[string]file{
		"playground.js": {"", `"` + playground.SRI(playgroundScript) + `"`, "no-cache"},
	}
	for _, a := range playground.Assets {
		// A missing file (not generated) is a 404, and the page says it
		// could not load; TestPlaygroundAssetsMatchPinnedPackages fails.
		name := "playground/dist/" + a.Path()
		if _, err := fs.Stat(playgroundDist, name); err == nil {
			files[a.Path()] = file{name, `"` + a.SRI + `"`, "public, max-age=31536000, immutable"}
		}
	}
	return http.StripPrefix(playgroundPrefix, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		var content io.ReadSeeker = bytes.NewReader(playgroundScript)
		if f.embedded != "" {
			opened, err := playgroundDist.Open(f.embedded)
			if err != nil {
				http.NotFound(w, r)
				return
			}
			defer opened.Close()
			content = opened.(io.ReadSeeker) // embed.FS files seek
		}
		w.Header().Set("Cache-Control", f.cache)
		w.Header().Set("ETag", f.etag)
		// ServeContent picks the Content-Type from the extension and
		// answers If-None-Match with 304.
		http.ServeContent(w, r, r.URL.Path, time.Time{}, content)
	}))
}
