//go:build entc

package gql

import "entgo.io/contrib/entgql"

// SkipMode is entgql.SkipMode.
type SkipMode = entgql.SkipMode

// What to leave out of the GraphQL schema (entgql.Skip).
const (
	SkipEnumField           = entgql.SkipEnumField
	SkipOrderField          = entgql.SkipOrderField
	SkipWhereInput          = entgql.SkipWhereInput
	SkipMutationCreateInput = entgql.SkipMutationCreateInput
	SkipMutationUpdateInput = entgql.SkipMutationUpdateInput
	SkipAll                 = entgql.SkipAll
)

// entgql's annotations, as the code generator reads them.
var (
	Skip            = entgql.Skip
	OrderField      = entgql.OrderField
	MapsTo          = entgql.MapsTo
	Type            = entgql.Type
	RelayConnection = entgql.RelayConnection
	QueryField      = entgql.QueryField
)
