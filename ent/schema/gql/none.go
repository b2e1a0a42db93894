//go:build !entc

package gql

import "entgo.io/ent/schema"

// SkipMode says what to leave out of the GraphQL schema.
type SkipMode int

// What to leave out of the GraphQL schema: read by the code generator
// only.
const (
	SkipEnumField SkipMode = 1 << iota
	SkipOrderField
	SkipWhereInput
	SkipMutationCreateInput
	SkipMutationUpdateInput
	SkipAll
)

// none stands for an annotation outside code generation: it is never
// read.
type none struct{}

// Name is the name entgql's annotations have.
func (none) Name() string { return "EntGQL" }

// queryField is QueryField's annotation, which can be described.
type queryField struct{ none }

// Description describes the Query field (read by the code generator).
func (q queryField) Description(string) queryField { return q }

// Skip leaves parts out of the GraphQL schema.
func Skip(...SkipMode) schema.Annotation { return none{} }

// OrderField makes the field an order of its connection.
func OrderField(string) schema.Annotation { return none{} }

// MapsTo names the GraphQL field of an ent field.
func MapsTo(...string) schema.Annotation { return none{} }

// Type names the GraphQL type of an ent field.
func Type(string) schema.Annotation { return none{} }

// RelayConnection makes the type pageable as a Relay connection.
func RelayConnection() schema.Annotation { return none{} }

// QueryField puts the type's connection on Query.
func QueryField(...string) queryField { return queryField{} }
