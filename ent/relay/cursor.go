package relay

import (
	"encoding/binary"
	"errors"
	"slices"
)

// maxCursorLen bounds the length of a cursor UnmarshalGQL reads, in
// base64 characters. The largest cursor gqlauth hands out is a user's
// ordered by email: a map of "i" (the UUID, 18 bytes as msgpack bin) and
// "v" (an email of at most 254 bytes, 256 as msgpack str), 279 bytes
// with the map and key headers, 372 characters of base64.
// TestLargestCursorsRoundTrip checks that such a cursor reads back.
const maxCursorLen = 512

// Cursors come from clients, before any check of who is asking. msgpack
// v5.3.5 decoding into Cursor's untyped Value trusts the length a header
// announces: a map header of 2³²-1 entries in an 11-character cursor made
// it allocate 80 MiB for a map it never filled, and array, str, bin and
// ext headers allocate up to a few MiB the same way. So UnmarshalGQL
// decodes the base64 whole, a bounded number of bytes, and hands msgpack
// only what checkCursor accepts: the shape of the cursors MarshalGQL
// writes, a map whose keys and values are scalars (nil, booleans,
// numbers, strings, bytes and timestamps) each of which fits in what is
// left of the input. No array or map but the outer one, and no length
// beyond the input, leaves msgpack nothing to preallocate from.

var errCursorShape = errors.New("not a map of scalars")

// checkCursor reports whether b is one msgpack map of at most 15 entries
// whose keys are distinct strings and whose values are scalars, all of
// which fit in b, and nothing after it. (msgpack decodes a key given
// twice into the value the first one left in Value, and panics when that
// is a []byte.)
func checkCursor(b []byte) error {
	if len(b) == 0 || b[0]&0xf0 != 0x80 { // fixmap
		return errCursorShape
	}
	var keys [15]string
	rest := b[1:]
	for i := range int(b[0] & 0x0f) {
		n := scalarLen(rest)
		if n < 0 {
			return errCursorShape
		}
		key, ok := str(rest[:n])
		if !ok || slices.Contains(keys[:i], key) {
			return errors.New("not a map of distinct string keys")
		}
		keys[i] = key
		rest = rest[n:]
		if n = scalarLen(rest); n < 0 {
			return errCursorShape
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return errors.New("trailing bytes")
	}
	return nil
}

// str is the content of b, one msgpack scalar, if it is a string.
func str(b []byte) (string, bool) {
	switch c := b[0]; {
	case c >= 0xa0 && c <= 0xbf: // fixstr
		return string(b[1:]), true
	case c == 0xd9: // str8
		return string(b[2:]), true
	case c == 0xda: // str16
		return string(b[3:]), true
	case c == 0xdb: // str32
		return string(b[5:]), true
	}
	return "", false
}

// scalarLen is the length in bytes of the msgpack scalar b starts with, or
// -1 when b does not start with a scalar that fits in b. The scalars are
// nil, booleans, integers, floats, strings, bytes and timestamps
// (extension -1 of 4, 8 or 12 bytes, how msgpack writes a time.Time);
// arrays, maps and other extensions are refused.
func scalarLen(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	c := b[0]
	var head, body uint64 // bytes of length, then bytes after it
	switch {
	case c <= 0x7f, c >= 0xe0, c == 0xc0, c == 0xc2, c == 0xc3: // fixints, nil, false, true
	case c >= 0xa0 && c <= 0xbf: // fixstr
		body = uint64(c & 0x1f)
	case c == 0xcc, c == 0xd0: // uint8, int8
		body = 1
	case c == 0xcd, c == 0xd1: // uint16, int16
		body = 2
	case c == 0xca, c == 0xce, c == 0xd2: // float32, uint32, int32
		body = 4
	case c == 0xcb, c == 0xcf, c == 0xd3: // float64, uint64, int64
		body = 8
	case c == 0xc4, c == 0xd9: // bin8, str8
		head = 1
	case c == 0xc5, c == 0xda: // bin16, str16
		head = 2
	case c == 0xc6, c == 0xdb: // bin32, str32
		head = 4
	case c == 0xd6, c == 0xd7: // fixext4, fixext8: a timestamp of 4 or 8 bytes
		if len(b) < 2 || b[1] != 0xff {
			return -1
		}
		body = 1 + 4<<(c-0xd6)
	case c == 0xc7: // ext8: a timestamp of 12 bytes
		if len(b) < 3 || b[1] != 12 || b[2] != 0xff {
			return -1
		}
		body = 2 + 12
	default:
		return -1
	}
	if uint64(len(b)) < 1+head {
		return -1
	}
	switch head {
	case 1:
		body = uint64(b[1])
	case 2:
		body = uint64(binary.BigEndian.Uint16(b[1:]))
	case 4:
		body = uint64(binary.BigEndian.Uint32(b[1:]))
	}
	if n := 1 + head + body; n <= uint64(len(b)) {
		return int(n)
	}
	return -1
}
