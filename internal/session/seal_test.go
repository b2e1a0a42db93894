package session

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/gqlauth/gqlauth/internal/token"
)

// TestSealedSuccessor checks the grace window's secret: only the parent
// token opens the sealed successor; the stored hash of the parent, another
// token, or a tampered box do not, and the box does not contain the
// successor in the clear.
func TestSealedSuccessor(t *testing.T) {
	parent, parentHash := token.NewRefreshToken()
	successor, _ := token.NewRefreshToken()
	box := sealSuccessor(parent, successor)

	got, err := unsealSuccessor(parent, box)
	if err != nil || got != successor {
		t.Fatalf("unseal with the parent = %q, %v; want the successor", got, err)
	}
	if bytes.Contains(box, []byte(successor)) {
		t.Fatalf("sealed box contains the successor in the clear")
	}
	other, _ := token.NewRefreshToken()
	tampered := bytes.Clone(box)
	tampered[len(tampered)-1] ^= 1
	for name, try := range map[string]func() (string, error){
		"stored hash":  func() (string, error) { return unsealSuccessor(base64.RawURLEncoding.EncodeToString(parentHash), box) },
		"other token":  func() (string, error) { return unsealSuccessor(other, box) },
		"tampered box": func() (string, error) { return unsealSuccessor(parent, tampered) },
		"short box":    func() (string, error) { return unsealSuccessor(parent, box[:4]) },
	} {
		if got, err := try(); err == nil {
			t.Fatalf("%s unsealed the successor: %q", name, got)
		}
	}
	if again := sealSuccessor(parent, successor); bytes.Equal(again, box) {
		t.Fatalf("sealing twice gave the same box: the nonce is not random")
	}
}
