package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	netmail "net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// TLSMode is how the connection to the SMTP server is protected.
type TLSMode int

const (
	// StartTLS connects in the clear and upgrades with STARTTLS before
	// anything else; a server that does not offer it is refused
	// (smtp://, port 587 by default).
	StartTLS TLSMode = iota
	// ImplicitTLS speaks TLS from the first byte (smtps://, port 465).
	ImplicitTLS
	// NoTLS never encrypts (smtp://…?tls=none): for a server on the same
	// host or network, such as Mailpit. It allows no password.
	NoTLS
)

// Server is an SMTP server parsed from MAIL_URL.
type Server struct {
	Host     string
	Port     int
	TLS      TLSMode
	Username string
	// Password is never logged: String leaves it out.
	Password string
}

// String is the server as a URL without its password, for logs.
func (s Server) String() string {
	scheme, query := "smtp", ""
	switch s.TLS {
	case ImplicitTLS:
		scheme = "smtps"
	case NoTLS:
		query = "?tls=none"
	}
	user := ""
	if s.Username != "" {
		user = url.User(s.Username).String() + "@"
	}
	return fmt.Sprintf("%s://%s%s:%d%s", scheme, user, s.Host, s.Port, query)
}

// ParseURL reads MAIL_URL: smtp://user:password@host:587 (STARTTLS),
// smtps://user:password@host:465 (TLS), smtp://host:1025?tls=none (no
// TLS, no password). User and password are URL-encoded (a "@" in a
// password is %40). Errors never repeat the password.
func ParseURL(raw string) (Server, error) {
	bad := func(why string) (Server, error) {
		return Server{}, fmt.Errorf("MAIL_URL: %s", why)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("is not a URL like smtp://user:password@host:587")
	}
	s := Server{Host: u.Hostname()}
	switch u.Scheme {
	case "smtp":
		s.TLS, s.Port = StartTLS, 587
	case "smtps":
		s.TLS, s.Port = ImplicitTLS, 465
	default:
		return bad("must start with smtp:// or smtps://")
	}
	if s.Host == "" {
		return bad("names no host")
	}
	if p := u.Port(); p != "" {
		if s.Port, err = strconv.Atoi(p); err != nil || s.Port < 1 || s.Port > 65535 {
			return bad("has an invalid port")
		}
	}
	if u.User != nil {
		s.Username = u.User.Username()
		s.Password, _ = u.User.Password()
	}
	if u.Path != "" && u.Path != "/" {
		return bad("must not have a path")
	}
	q := u.Query()
	for k := range q {
		if k != "tls" {
			return bad(fmt.Sprintf("has an unknown parameter %q (only tls)", k))
		}
	}
	switch q.Get("tls") {
	case "":
	case "starttls":
		if s.TLS != StartTLS {
			return bad("tls=starttls goes with smtp://")
		}
	case "none":
		if s.TLS != StartTLS {
			return bad("tls=none goes with smtp://")
		}
		s.TLS = NoTLS
	default:
		return bad("tls must be starttls or none")
	}
	if s.TLS == NoTLS && (s.Username != "" || s.Password != "") {
		return bad("tls=none would send the password in the clear; use STARTTLS (smtp://) or TLS (smtps://)")
	}
	return s, nil
}

// SMTPSettings configure an SMTPSender.
type SMTPSettings struct {
	// Server is where mail goes (ParseURL of MAIL_URL).
	Server Server
	// From is the From header (MAIL_FROM).
	From string
	// Timeout bounds one delivery: connect, TLS, AUTH and the message
	// (MAIL_TIMEOUT).
	Timeout time.Duration
	// TLSConfig, when set, replaces the default (the system's roots,
	// TLS 1.2 or later); tests pass their own certificate authority.
	TLSConfig *tls.Config
}

// SMTPSender delivers messages to an SMTP server, one connection per
// message, through github.com/wneessen/go-mail. With a username it
// authenticates with the strongest mechanism the server offers over the
// encrypted connection (SCRAM, then PLAIN or LOGIN).
type SMTPSender struct {
	set  SMTPSettings
	from *netmail.Address
}

// NewSMTPSender checks the settings and returns the sender.
func NewSMTPSender(set SMTPSettings) (*SMTPSender, error) {
	from, err := netmail.ParseAddress(set.From)
	if err != nil {
		return nil, fmt.Errorf("MAIL_FROM: %v", err)
	}
	if set.Server.Host == "" {
		return nil, errors.New("MAIL_URL: names no host")
	}
	if set.Timeout <= 0 {
		set.Timeout = 10 * time.Second
	}
	return &SMTPSender{set: set, from: from}, nil
}

// Send delivers m. A recipient the server refuses for good (a 5xx reply
// to RCPT TO) is a PermanentError; everything else may be tried again.
func (s *SMTPSender) Send(ctx context.Context, m Message) error {
	msg, err := s.build(m)
	if err != nil {
		return &PermanentError{Err: err}
	}
	srv := s.set.Server
	opts := []gomail.Option{
		gomail.WithPort(srv.Port),
		gomail.WithTimeout(s.set.Timeout),
	}
	tlsConfig := &tls.Config{ServerName: srv.Host, MinVersion: tls.VersionTLS12}
	if s.set.TLSConfig != nil {
		tlsConfig = s.set.TLSConfig.Clone()
		if tlsConfig.ServerName == "" {
			tlsConfig.ServerName = srv.Host
		}
	}
	switch srv.TLS {
	case ImplicitTLS:
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSConfig(tlsConfig))
	case StartTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tlsConfig))
	case NoTLS:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if srv.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(srv.Username), gomail.WithPassword(srv.Password))
	}
	client, err := gomail.NewClient(srv.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", srv, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.set.Timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		err = fmt.Errorf("smtp %s: %w", srv, err)
		var se *gomail.SendError
		if errors.As(err, &se) && se.Reason == gomail.ErrSMTPRcptTo && !se.IsTemp() {
			return &PermanentError{Err: err}
		}
		return err
	}
	return nil
}

// build turns m into a go-mail message: From, To, Subject, Date,
// Message-ID, Auto-Submitted (RFC 3834: no auto-replies), a text part
// and, when there is one, an HTML alternative.
func (s *SMTPSender) build(m Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg()
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("recipient: %w", err)
	}
	msg.Subject(m.Subject)
	if m.MessageID != "" {
		msg.SetMessageIDWithValue(strings.Trim(m.MessageID, "<>"))
	} else {
		msg.SetMessageID()
	}
	if m.Date.IsZero() {
		msg.SetDate()
	} else {
		msg.SetDateWithValue(m.Date)
	}
	msg.SetGenHeader(gomail.Header("Auto-Submitted"), "auto-generated")
	msg.SetUserAgent("gqlauth")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}
