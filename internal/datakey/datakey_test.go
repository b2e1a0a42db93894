package datakey

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TestParse takes 32 bytes in any base64 spelling and refuses the rest.
func TestParse(t *testing.T) {
	k := Generate()
	for _, s := range []string{k.Encode(), strings.TrimRight(k.Encode(), "="), " " + k.Encode() + "\n",
		strings.NewReplacer("+", "-", "/", "_").Replace(k.Encode())} {
		got, err := Parse(s)
		if err != nil || !bytes.Equal(got.raw, k.raw) {
			t.Errorf("Parse(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "not base64!", "c2hvcnQ=", Generate().Encode() + "AAAA"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

// TestSealOpen: a sealed value opens with the same key, purpose and
// associated data only, and any changed byte is refused.
func TestSealOpen(t *testing.T) {
	k := Generate()
	box := k.Box("purpose a")
	plain := []byte("private key material")
	sealed := box.Seal(plain, []byte("row 1"))
	if bytes.Contains(sealed, plain) {
		t.Fatal("sealed value contains the plaintext")
	}
	if got, err := box.Open(sealed, []byte("row 1")); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if bytes.Equal(sealed, box.Seal(plain, []byte("row 1"))) {
		t.Fatal("two seals of one value are equal: the nonce is not random")
	}
	for name, open := range map[string]func() ([]byte, error){
		"other associated data": func() ([]byte, error) { return box.Open(sealed, []byte("row 2")) },
		"other purpose":         func() ([]byte, error) { return k.Box("purpose b").Open(sealed, []byte("row 1")) },
		"other key":             func() ([]byte, error) { return Generate().Box("purpose a").Open(sealed, []byte("row 1")) },
		"truncated":             func() ([]byte, error) { return box.Open(sealed[:10], []byte("row 1")) },
		"empty":                 func() ([]byte, error) { return box.Open(nil, []byte("row 1")) },
	} {
		if _, err := open(); err != ErrOpen {
			t.Errorf("%s: %v, want ErrOpen", name, err)
		}
	}
	for i := range sealed {
		edited := bytes.Clone(sealed)
		edited[i] ^= 1
		if _, err := box.Open(edited, []byte("row 1")); err == nil {
			t.Fatalf("opened with byte %d changed", i)
		}
	}
}

// TestKeyNeverPrints: fmt and slog show no key material.
func TestKeyNeverPrints(t *testing.T) {
	k := Generate()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "key", k)
	out := fmt.Sprintf("%v %+v %s %#v", k, k, k, k) + buf.String()
	if strings.Contains(out, k.Encode()) || strings.Contains(out, fmt.Sprint(k.raw)) || !strings.Contains(out, "[redacted]") {
		t.Fatalf("printed: %s", out)
	}
}

// TestLoadOrCreate: the first call makes the file (owner-only), later
// ones and concurrent ones read the same key.
func TestLoadOrCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "gqlauth.db.data-key")
	keys := make([]*Key, 8)
	created := make([]bool, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			var err error
			keys[i], created[i], err = LoadOrCreate(path)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	n := 0
	for i, k := range keys {
		if created[i] {
			n++
		}
		if k == nil || !bytes.Equal(k.raw, keys[0].raw) {
			t.Fatalf("instance %d got another key", i)
		}
	}
	if n != 1 {
		t.Fatalf("%d instances created the file", n)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", info.Mode(), err)
	}
	again, made, err := LoadOrCreate(path)
	if err != nil || made || !bytes.Equal(again.raw, keys[0].raw) {
		t.Fatalf("reload: %v, created %v", err, made)
	}
	if err := os.WriteFile(path, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := LoadOrCreate(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("a corrupt key file: %v", err)
	}
}
