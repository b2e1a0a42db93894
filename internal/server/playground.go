package server

import (
	_ "embed"
	"html/template"
	"net/http"
)

// playgroundDocument is the example document the playground opens with:
// one named operation per query and mutation gqlauth offers.
//
//go:embed playground.graphql
var playgroundDocument string

//go:embed playground.html
var playgroundHTML string

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

// playgroundData is what playground.html is rendered with. GraphiQL and
// React come from jsDelivr at the versions gqlgen's own playground pins,
// with subresource integrity hashes; the CSP in securityHeaders allows
// that origin.
type playgroundData struct {
	Title, Endpoint                                string
	DefaultQuery, DefaultVariables, DefaultHeaders string
	JSURL, JSSRI, CSSURL, CSSSRI                   string
	ReactURL, ReactSRI, ReactDOMURL, ReactDOMSRI   string
}

// playgroundHandler serves GraphiQL for endpoint, opened on the example
// document with the Authorization header ready for a token. gqlgen's
// playground.Handler cannot set a default document, hence this page.
func playgroundHandler(title, endpoint string) http.Handler {
	data := playgroundData{
		Title:            title,
		Endpoint:         endpoint,
		DefaultQuery:     playgroundDocument,
		DefaultVariables: playgroundVariables,
		DefaultHeaders:   playgroundHeaders,
		JSURL:            "https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.js",
		JSSRI:            "sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs=",
		CSSURL:           "https://cdn.jsdelivr.net/npm/graphiql@4.1.2/graphiql.min.css",
		CSSSRI:           "sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU=",
		ReactURL:         "https://cdn.jsdelivr.net/npm/react@18.2.0/umd/react.production.min.js",
		ReactSRI:         "sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY=",
		ReactDOMURL:      "https://cdn.jsdelivr.net/npm/react-dom@18.2.0/umd/react-dom.production.min.js",
		ReactDOMSRI:      "sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc=",
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := playgroundPage.Execute(w, data); err != nil {
			http.Error(w, "playground unavailable", http.StatusInternalServerError)
		}
	})
}
