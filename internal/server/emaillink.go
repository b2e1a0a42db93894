package server

import (
	"embed"
	"net/http"
	"strings"
)

// emailLinkFiles are the page that mail links open when APP_URL points at
// gqlauth, and its script.
//
//go:embed emaillink/index.html emaillink/link.js
var emailLinkFiles embed.FS

// emailLinkScript is where the page's script is served.
const emailLinkScript = "/email-link/link.js"

// mountEmailLink serves the minimal page of the email flows at path
// (EMAIL_LINK_PATH): verify an address, confirm an email change, choose a
// new password, or ask for a reset. A GET only loads the page: the token
// stays in the fragment, and a button POSTs the mutation that spends it,
// so that a mail scanner following the link spends nothing. A path under
// /examples/spa/ is left to the example app, which handles the links
// itself.
func mountEmailLink(mux *http.ServeMux, path string) {
	page, _ := emailLinkFiles.ReadFile("emaillink/index.html")
	script, _ := emailLinkFiles.ReadFile("emaillink/link.js")
	serve := func(contentType string, body []byte) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", contentType)
			w.Header().Set("Cache-Control", "no-store")
			_, _ = w.Write(body)
		})
	}
	mux.Handle("GET "+emailLinkScript, serve("text/javascript; charset=utf-8", script))
	if strings.HasPrefix(path, "/examples/spa/") {
		return
	}
	if strings.HasSuffix(path, "/") {
		path += "{$}" // the path itself, not what is under it
	}
	mux.Handle("GET "+path, serve("text/html; charset=utf-8", page))
}
