// Package gql is how the ent schema writes its GraphQL annotations:
// entgql's annotation functions under the names entgql gives them.
//
// Only the code generator reads annotations; the server never does, yet
// it imports ent/schema (ent's generated runtime reads the fields'
// defaults and validators from it). So the annotations are entgql's
// when the schema is loaded by ent/entc.go, which builds with the
// "entc" tag (entgql.go), and empty in every other build (none.go):
// the server does not link entgql, whose package holds its code
// generator too (ent/relay says what that costs).
package gql
