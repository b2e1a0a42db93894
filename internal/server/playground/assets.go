// Package playground lists the GraphiQL, React and ReactDOM files the
// playground page loads. `make generate` (cmd/gqlauth-playground-assets)
// copies them from the pinned npm packages of examples/ts into dist/,
// which package server embeds and serves, so that the playground works
// offline and behind firewalls, and the Content-Security-Policy needs no
// CDN. (The list lives apart from the embedded files so that the copier
// builds before they exist.)
package playground

import (
	"crypto/sha256"
	"encoding/base64"
	"path"
)

// Asset is one file of an npm package that the playground loads.
type Asset struct {
	// Package and Version name the npm package, pinned in
	// examples/ts/package.json.
	Package, Version string
	// File is the file's path inside the package.
	File string
	// SRI is the file's subresource-integrity hash, checked when it is
	// copied, by the tests, and by the browser (the integrity attribute).
	SRI string
}

// Path is where the file is kept in dist/ and served under /playground/:
// a folder per package version, so a cached copy never goes stale.
func (a Asset) Path() string {
	return a.Package + "-" + a.Version + "/" + path.Base(a.File)
}

// Assets are the files the playground page loads, in the order it loads
// them. To upgrade one: change examples/ts/package.json, run npm install
// there, update Version and SRI here (cmd/gqlauth-playground-assets
// prints the new hash), and run `make generate`.
var Assets = []Asset{
	{Package: "react", Version: "18.2.0", File: "umd/react.production.min.js",
		SRI: "sha256-S0lp+k7zWUMk2ixteM6HZvu8L9Eh//OVrt+ZfbCpmgY="},
	{Package: "react-dom", Version: "18.2.0", File: "umd/react-dom.production.min.js",
		SRI: "sha256-IXWO0ITNDjfnNXIu5POVfqlgYoop36bDzhodR6LW5Pc="},
	{Package: "graphiql", Version: "4.1.2", File: "graphiql.min.css",
		SRI: "sha256-MEh+B2NdMSpj9kexQNN3QKc8UzMrCXW/Sx/phcpuyIU="},
	{Package: "graphiql", Version: "4.1.2", File: "graphiql.min.js",
		SRI: "sha256-hnImuor1znlJkD/FOTL3jayfS/xsyNoP04abi8bFJWs="},
}

// SRI returns the subresource-integrity hash (SHA-256) of data.
func SRI(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}
