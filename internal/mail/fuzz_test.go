package mail_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gqlauth/gqlauth/internal/mail"
)

// FuzzParseURL: any MAIL_URL is parsed or refused without a panic, and
// neither the error nor the parsed server's String repeats the password.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{"smtp://u:p@h:587", "smtps://u:p%40x@h", "smtp://h:1025?tls=none", "smtp://u:p@h?tls=none", "smtp://[::1]", "::"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		srv, err := mail.ParseURL(raw)
		var pw string
		if u, perr := url.Parse(raw); perr == nil && u.User != nil {
			pw, _ = u.User.Password()
		}
		if len(pw) < 4 {
			return // too short to tell a leak from a coincidence
		}
		if err != nil && strings.Contains(err.Error(), pw) {
			t.Fatalf("ParseURL(%q) error repeats the password: %v", raw, err)
		}
		if err == nil && strings.Contains(srv.String(), pw) && !strings.Contains(srv.Host+srv.Username, pw) {
			t.Fatalf("String() of %q shows the password: %s", raw, srv)
		}
	})
}
