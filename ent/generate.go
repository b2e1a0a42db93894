// Package ent holds the generated ent client. Edit ent/schema and run
// `make generate`; nothing else here is written by hand.
package ent

//go:generate go run -mod=mod entc.go
