package relay_test

import (
	"bytes"
	"testing"

	"entgo.io/contrib/entgql"
	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/relay"
)

// TestCursorsAreEntgqls: a cursor encodes byte for byte as entgql's, and
// each reads the other's, so that cursors handed out before ent/relay
// replaced entgql at run time keep working.
func TestCursorsAreEntgqls(t *testing.T) {
	id := uuid.MustParse("0193f6a0-7c1e-7d2a-9b3c-4d5e6f708192")
	for _, value := range []any{nil, "jane@example.com", int64(1733140800)} {
		var ours, theirs bytes.Buffer
		relay.Cursor[uuid.UUID]{ID: id, Value: value}.MarshalGQL(&ours)
		entgql.Cursor[uuid.UUID]{ID: id, Value: value}.MarshalGQL(&theirs)
		if ours.String() != theirs.String() {
			t.Fatalf("value %v: relay encodes %s, entgql %s", value, ours.String(), theirs.String())
		}
		raw := ours.String()[1 : ours.Len()-1] // unquoted
		var back relay.Cursor[uuid.UUID]
		if err := back.UnmarshalGQL(raw); err != nil || back.ID != id {
			t.Fatalf("value %v: relay reads back %+v, %v", value, back, err)
		}
		var theirsBack entgql.Cursor[uuid.UUID]
		if err := theirsBack.UnmarshalGQL(raw); err != nil || theirsBack.ID != id {
			t.Fatalf("value %v: entgql reads relay's cursor as %+v, %v", value, theirsBack, err)
		}
	}
	var bad relay.Cursor[uuid.UUID]
	if err := bad.UnmarshalGQL("not a cursor"); err == nil {
		t.Fatal("a malformed cursor was accepted")
	}
	if relay.OrderDirectionAsc != relay.OrderDirection(entgql.OrderDirectionAsc) || relay.OrderDirectionDesc.Reverse() != relay.OrderDirectionAsc {
		t.Fatal("order directions differ from entgql's")
	}
	if err := relay.ErrNodeNotFound("x"); err.Message != entgql.ErrNodeNotFound("x").Message || err.Extensions["code"] != "NOT_FOUND" {
		t.Fatalf("ErrNodeNotFound: %+v", err)
	}
}
