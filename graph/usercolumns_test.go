package graph

import (
	"slices"
	"testing"

	"github.com/gqlauth/gqlauth/internal/database"
)

// TestUserFieldColumns: every field of the User type says which columns
// it reads (a field left out would make every `me` read the whole row),
// and those are columns `me` may read.
func TestUserFieldColumns(t *testing.T) {
	def := testSchema.Types["User"]
	if def == nil {
		t.Fatal("no User type")
	}
	for _, f := range def.Fields {
		cols, ok := userFieldColumns[f.Name]
		if !ok {
			t.Errorf("User.%s is not in userFieldColumns", f.Name)
		}
		for _, c := range cols {
			if !slices.Contains(database.ShownUserColumns, c) {
				t.Errorf("User.%s reads %q, which is not a shown column", f.Name, c)
			}
		}
	}
	for name := range userFieldColumns {
		if name != "__typename" && def.Fields.ForName(name) == nil {
			t.Errorf("userFieldColumns lists %q, which User does not have", name)
		}
	}
}
