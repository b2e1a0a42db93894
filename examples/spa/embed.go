// Package spa holds the example single-page app (plain HTML and
// JavaScript, no build step) that gqlauth serves at /examples/spa/ when
// EXAMPLES_ENABLED is true. It lives here, beside its files, because Go
// embedding cannot reach a parent directory.
package spa

import "embed"

// Files are the app's static files: index.html, app.js and style.css.
//
//go:embed index.html app.js style.css
var Files embed.FS
