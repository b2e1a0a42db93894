// Package migrations embeds gqlauth's versioned migration files, one
// directory per SQL dialect (postgres/, sqlite/), so that the binary can
// migrate a database without any file beside it.
//
// The .sql files and atlas.sum are written by `make generate` (through
// ent/migrate/main.go) from ent/schema, and committed. Never edit them by
// hand: change ent/schema and regenerate, which adds a new file.
package migrations

import "embed"

// FS holds postgres/*.sql, sqlite/*.sql and their atlas.sum files.
//
//go:embed postgres sqlite
var FS embed.FS
