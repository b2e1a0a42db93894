package relay_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/relay"
	"github.com/gqlauth/gqlauth/ent/schema"
)

// cursorID is the ID of the cursors these tests write.
var cursorID = uuid.MustParse("0193f6a0-7c1e-7d2a-9b3c-4d5e6f708192")

// marshal is the cursor c as a client sends it back (unquoted).
func marshal(c relay.Cursor[uuid.UUID]) string {
	var b bytes.Buffer
	c.MarshalGQL(&b)
	return strings.Trim(b.String(), `"`)
}

// fromHex is the cursor of the msgpack bytes h (hex).
func fromHex(h string) string {
	b, err := hex.DecodeString(h)
	if err != nil {
		panic(err)
	}
	return base64.RawStdEncoding.EncodeToString(b)
}

// allocated is what f allocates per run: bytes (runtime.MemStats) and
// allocations (testing.AllocsPerRun).
func allocated(f func()) (bytes uint64, allocs float64) {
	const runs = 5
	allocs = testing.AllocsPerRun(runs, f)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range runs {
		f()
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / runs, allocs
}

// maliciousCursors are tiny cursors whose msgpack headers announce huge
// maps, arrays, strings, bytes or extensions, nested or not, in the value,
// the ID, a key or the cursor itself, one cursor too long to be ours, and
// one that gives a key twice.
var maliciousCursors = map[string]string{
	"value map32":         fromHex("81a176dfffffffff"), // 11 characters
	"value map16":         fromHex("81a176deffff"),
	"value array32":       fromHex("81a176ddffffffff"),
	"value array16":       fromHex("81a176dcffff"),
	"value str32":         fromHex("81a176dbffffffff"),
	"value bin32":         fromHex("81a176c6ffffffff"),
	"value ext32 time":    fromHex("81a176c9ffffffffff"),
	"value ext8 time":     fromHex("81a176c7ffff"),
	"nested map in array": fromHex("81a17691dfffffffff"),
	"nested array in map": fromHex("81a17681a178ddffffffff"),
	"full cursor, map32": fromHex("82a169c410" + hex.EncodeToString(cursorID[:]) +
		"a176dfffffffff"),
	"cursor map32":   fromHex("dfffffffff"),
	"cursor array32": fromHex("ddffffffff"),
	"id bin32":       fromHex("81a169c6ffffffff"),
	"id array32":     fromHex("81a169ddffffffff"),
	"key str32":      fromHex("81dbffffffff"),
	// Not costly, but msgpack panicked decoding a second "v" into the
	// []byte of the first.
	"value twice": fromHex("82a176c40100a176c40100"),
	"too long":    marshal(relay.Cursor[uuid.UUID]{ID: cursorID, Value: strings.Repeat("a", 1<<17)}),
}

// TestMaliciousCursorsAreCheap: a cursor comes from any client, before
// any check of who is asking. Decoding one whose msgpack headers announce
// huge lengths fails and allocates a few KiB at most (msgpack v5.3.5
// alone made 80 MiB of a map header in an 11-character cursor).
func TestMaliciousCursorsAreCheap(t *testing.T) {
	const maxBytes = 64 << 10
	for name, s := range maliciousCursors {
		t.Run(name, func(t *testing.T) {
			var err error
			n, allocs := allocated(func() {
				var c relay.Cursor[uuid.UUID]
				err = c.UnmarshalGQL(s)
			})
			t.Logf("%d bytes in %.0f allocations per decoding", n, allocs)
			if err == nil {
				t.Errorf("cursor %.40q accepted", s)
			}
			if n > maxBytes || allocs > 32 {
				t.Errorf("cursor %.40q (%d characters): %d bytes in %.0f allocations per decoding, want at most %d bytes, 32 allocations",
					s, len(s), n, allocs, maxBytes)
			}
		})
	}
}

// TestLargestCursorsRoundTrip: every cursor gqlauth hands out still reads
// back, the largest (a user ordered by an email of the longest length
// the schema allows) included, and so do values of every scalar kind
// (zero values, which Cursor's omitempty leaves out, read back as nil).
func TestLargestCursorsRoundTrip(t *testing.T) {
	email := strings.Repeat("a", schema.MaxEmailBytes-len("@example.com")) + "@example.com"
	username := strings.Repeat("u", schema.MaxUsernameChars)
	for _, value := range []any{
		nil, email, username,
		time.Unix(1733140800, 0),                    // a 4-byte timestamp
		time.Unix(1733140800, 123456789),            // 8 bytes
		time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), // 12 bytes
		int64(math.MaxInt64), int64(math.MinInt64), int64(-1),
		uint64(math.MaxUint64), 1.5, true,
	} {
		s := marshal(relay.Cursor[uuid.UUID]{ID: cursorID, Value: value})
		var back relay.Cursor[uuid.UUID]
		if err := back.UnmarshalGQL(s); err != nil {
			t.Fatalf("value %T %v (cursor of %d characters): %v", value, value, len(s), err)
		}
		got, want := back.Value, value
		if tm, ok := value.(time.Time); ok {
			got, want = back.Value.(time.Time).Equal(tm), true
		}
		if back.ID != cursorID || !reflect.DeepEqual(got, want) {
			t.Fatalf("value %T %v read back as %+v", value, value, back)
		}
	}
	// The ID-only cursors of factors, sessions, refresh tokens and audit
	// events.
	var back relay.Cursor[uuid.UUID]
	if err := back.UnmarshalGQL(marshal(relay.Cursor[uuid.UUID]{ID: cursorID})); err != nil || back.ID != cursorID || back.Value != nil {
		t.Fatalf("ID-only cursor read back as %+v, %v", back, err)
	}
}

// FuzzCursor: no input makes UnmarshalGQL panic, and what it accepts has
// a scalar value (nothing msgpack allocated a map or a slice for) and
// writes back to an equivalent cursor.
func FuzzCursor(f *testing.F) {
	for _, s := range maliciousCursors {
		if len(s) < 100 {
			f.Add(s)
		}
	}
	for _, v := range []any{nil, "jane@example.com", time.Unix(1733140800, 5), int64(7)} {
		f.Add(marshal(relay.Cursor[uuid.UUID]{ID: cursorID, Value: v}))
	}
	f.Fuzz(func(t *testing.T, s string) {
		var c relay.Cursor[uuid.UUID]
		if c.UnmarshalGQL(s) != nil {
			return
		}
		switch c.Value.(type) {
		case nil, bool, string, []byte, time.Time, float32, float64,
			int8, int16, int32, int64, uint8, uint16, uint32, uint64:
		default:
			t.Fatalf("cursor %q has a %T value", s, c.Value)
		}
		var again relay.Cursor[uuid.UUID]
		if err := again.UnmarshalGQL(marshal(c)); err != nil || again.ID != c.ID {
			t.Fatalf("cursor %q (%+v) does not write back: %+v, %v", s, c, again, err)
		}
	})
}
