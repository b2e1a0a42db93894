package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/gqlauth/gqlauth/ent/user"
)

// userFieldColumns are the users columns each field of the User type
// reads (the id is always read): `me` reads only those of the fields it
// selects (database.DB.ReadUser). A field missing here makes `me` read
// every column; TestUserFieldColumns checks that each field of User is
// listed and answers the same as with the whole row.
var userFieldColumns = map[string][]string{
	"__typename":      nil,
	"id":              nil,
	"createdAt":       {user.FieldCreatedAt},
	"updatedAt":       {user.FieldUpdatedAt},
	"email":           {user.FieldEmail},
	"emailVerifiedAt": {user.FieldEmailVerifiedAt},
	"emailVerified":   {user.FieldEmailVerifiedAt},
	"username":        {user.FieldUsername},
	"firstName":       {user.FieldFirstName},
	"lastName":        {user.FieldLastName},
	"age":             {user.FieldAge},
	"role":            {user.FieldRole},
}

// userColumns are the columns that the User fields selected under the
// field being resolved read, or nil (all) outside a GraphQL field or
// when one of them is not in userFieldColumns. The collected fields are
// the ones the executor marshals next (gqlgen keeps them for the
// operation).
func userColumns(ctx context.Context) []string {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil {
		return nil
	}
	cols := make([]string, 0, len(userFieldColumns))
	for _, f := range graphql.CollectFields(graphql.GetOperationContext(ctx), fc.Field.Selections, userImplementors) {
		c, ok := userFieldColumns[f.Name]
		if !ok {
			return nil
		}
		cols = append(cols, c...)
	}
	return cols
}
