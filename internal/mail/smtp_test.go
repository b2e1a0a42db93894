package mail_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gqlauth/gqlauth/internal/mail"
	"github.com/gqlauth/gqlauth/internal/mail/smtptest"
)

const (
	smtpUser     = "gqlauth"
	smtpPassword = "s3cret-smtp-pässword"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want mail.Server
	}{
		{"smtp://user:pa%40ss@smtp.example.com", mail.Server{Host: "smtp.example.com", Port: 587, TLS: mail.StartTLS, Username: "user", Password: "pa@ss"}},
		{"smtp://user:pw@smtp.example.com:2525?tls=starttls", mail.Server{Host: "smtp.example.com", Port: 2525, TLS: mail.StartTLS, Username: "user", Password: "pw"}},
		{"smtps://user:pw@smtp.example.com", mail.Server{Host: "smtp.example.com", Port: 465, TLS: mail.ImplicitTLS, Username: "user", Password: "pw"}},
		{"smtp://mailpit:1025?tls=none", mail.Server{Host: "mailpit", Port: 1025, TLS: mail.NoTLS}},
		{"smtp://[::1]:25/", mail.Server{Host: "::1", Port: 25, TLS: mail.StartTLS}},
	} {
		got, err := mail.ParseURL(tc.raw)
		if err != nil || got != tc.want {
			t.Errorf("ParseURL(%q) = %+v, %v; want %+v", tc.raw, got, err, tc.want)
		}
		if strings.Contains(got.String(), "pw") || strings.Contains(got.String(), "pa@ss") {
			t.Errorf("String() of %q shows the password: %s", tc.raw, got)
		}
	}
	for _, raw := range []string{
		"", "smtp.example.com:587", "http://smtp.example.com", "smtp://", "smtp://host:0", "smtp://host:99999",
		"smtp://host/path", "smtp://host?tls=maybe", "smtp://host?auth=plain", "smtps://host?tls=none",
		"smtp://user:" + smtpPassword + "@host?tls=none",
	} {
		_, err := mail.ParseURL(raw)
		if err == nil {
			t.Errorf("ParseURL(%q) accepted", raw)
			continue
		}
		if !strings.HasPrefix(err.Error(), "MAIL_URL: ") || strings.Contains(err.Error(), smtpPassword) {
			t.Errorf("ParseURL(%q): %q, want a MAIL_URL error without the password", raw, err)
		}
	}
}

// newSender is an SMTPSender for srv, trusting its certificate.
func newSender(t *testing.T, srv *smtptest.Server, url string) *mail.SMTPSender {
	t.Helper()
	s, err := mail.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	sender, err := mail.NewSMTPSender(mail.SMTPSettings{
		Server: s, From: "Acme <no-reply@acme.example>", Timeout: 5 * time.Second, TLSConfig: srv.TLSConfig(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return sender
}

var message = mail.Message{
	Kind: mail.KindPasswordReset, To: "jane@example.com", Subject: "Reset your Acme password — ünïcode",
	Text: "Your code: 483920\nhttps://app.example.com/reset#token=abc\n", HTML: "<p>Your code: <b>483920</b></p>",
	MessageID: "0193-test@acme.example", Date: time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC),
}

// TestSMTPSender delivers over each kind of connection, with AUTH where
// the server asks for it, and checks what arrives: the envelope, the
// headers and both parts.
func TestSMTPSender(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts smtptest.Options
	}{
		{"no TLS", smtptest.Options{}},
		{"STARTTLS with AUTH", smtptest.Options{TLS: smtptest.TLSStartTLS, Username: smtpUser, Password: smtpPassword}},
		{"implicit TLS with AUTH", smtptest.Options{TLS: smtptest.TLSImplicit, Username: smtpUser, Password: smtpPassword}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.New(t, tc.opts)
			if err := newSender(t, srv, srv.URL()).Send(context.Background(), message); err != nil {
				t.Fatal(err)
			}
			got := srv.Wait(t, 1, 5*time.Second)[0]
			if got.From != "no-reply@acme.example" || len(got.To) != 1 || got.To[0] != "jane@example.com" {
				t.Errorf("envelope %s → %v", got.From, got.To)
			}
			if got.TLS != (tc.opts.TLS != "") || got.AuthUser != tc.opts.Username {
				t.Errorf("delivered with TLS %v as %q", got.TLS, got.AuthUser)
			}
			if got.Subject != message.Subject || got.MessageID != message.MessageID {
				t.Errorf("Subject %q, Message-ID %q", got.Subject, got.MessageID)
			}
			if d, err := got.Header.Date(); err != nil || !d.Equal(message.Date) {
				t.Errorf("Date %v (%v), want %v", d, err, message.Date)
			}
			if got.Header.Get("From") != `"Acme" <no-reply@acme.example>` && got.Header.Get("From") != "Acme <no-reply@acme.example>" {
				t.Errorf("From header %q", got.Header.Get("From"))
			}
			if got.Header.Get("Auto-Submitted") != "auto-generated" {
				t.Errorf("Auto-Submitted %q", got.Header.Get("Auto-Submitted"))
			}
			if strings.TrimSpace(got.Text) != strings.TrimSpace(message.Text) || got.HTML != message.HTML {
				t.Errorf("parts: text %q, html %q", got.Text, got.HTML)
			}
			if got.Code() != "483920" || len(got.Links()) != 1 {
				t.Errorf("Code() %q, Links() %q", got.Code(), got.Links())
			}
		})
	}
}

// TestSMTPSenderRefusesDowngrade: with smtp:// (STARTTLS required), a
// server that does not offer STARTTLS gets nothing, and the password is
// never sent in the clear.
func TestSMTPSenderRefusesDowngrade(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{Username: smtpUser, Password: smtpPassword})
	url := "smtp://" + smtpUser + ":" + "s3cret@" + srv.Addr()
	err := newSender(t, srv, url).Send(context.Background(), message)
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Fatalf("Send = %v, want a refusal naming STARTTLS", err)
	}
	if len(srv.Messages()) != 0 || srv.AuthFailures() != 0 {
		t.Error("something was sent without TLS")
	}
}

// TestSMTPSenderWrongPassword: an authentication failure is an error
// worth retrying (the operator may fix the password) that never shows
// the password.
func TestSMTPSenderWrongPassword(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{TLS: smtptest.TLSStartTLS, Username: smtpUser, Password: smtpPassword})
	url := "smtp://" + smtpUser + ":wrong-password-123@" + srv.Addr()
	err := newSender(t, srv, url).Send(context.Background(), message)
	if err == nil || mail.IsPermanent(err) {
		t.Fatalf("Send = %v, want a temporary error", err)
	}
	if strings.Contains(err.Error(), "wrong-password-123") {
		t.Errorf("the error shows the password: %v", err)
	}
	if srv.AuthFailures() != 1 || len(srv.Messages()) != 0 {
		t.Errorf("%d auth failures, %d messages", srv.AuthFailures(), len(srv.Messages()))
	}
}

// TestSMTPSenderRejections: a 5xx refusal of the recipient is permanent,
// a 4xx one temporary; a server that is down is temporary.
func TestSMTPSenderRejections(t *testing.T) {
	srv := smtptest.New(t, smtptest.Options{RejectRcpt: func(to string) error {
		if strings.HasPrefix(to, "gone") {
			return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
	}})
	sender := newSender(t, srv, srv.URL())
	m := message
	m.To = "gone@example.com"
	if err := sender.Send(context.Background(), m); !mail.IsPermanent(err) {
		t.Errorf("550: %v, want permanent", err)
	}
	m.To = "busy@example.com"
	if err := sender.Send(context.Background(), m); err == nil || mail.IsPermanent(err) {
		t.Errorf("451: %v, want temporary", err)
	}
	srv.Stop()
	if err := sender.Send(context.Background(), message); err == nil || mail.IsPermanent(err) {
		t.Errorf("server down: %v, want temporary", err)
	}
	var perm *mail.PermanentError
	if errors.As(errors.New("x"), &perm) {
		t.Error("IsPermanent of a plain error")
	}
}
