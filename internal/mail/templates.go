package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"
)

// builtin holds the templates shipped with gqlauth.
//
//go:embed templates/*
var builtin embed.FS

// Data is what a template sees. A flow fills what its kind needs (Link
// and Code for the one-time kinds, NewEmail for the email change); the
// Mailer fills Product, AppURL, To and Now.
type Data struct {
	// Product is the name the mail speaks for: MAIL_FROM's display name,
	// or "gqlauth".
	Product string
	// AppURL is the public origin of the app (APP_URL).
	AppURL string
	// To is the recipient's address.
	To string
	// Name is how to greet the recipient (a first name or a username);
	// empty when unknown.
	Name string
	// Link is the one-time link (APP_URL + EMAIL_LINK_PATH with the token).
	Link string
	// Code is the 6-digit code of the same request.
	Code string
	// ExpiresIn is how long Link and Code stay valid.
	ExpiresIn time.Duration
	// OldEmail and NewEmail are the two addresses of an email change.
	OldEmail, NewEmail string
	// ActionURL is where the person can act on a notice (the page that
	// starts a password reset, or signs in).
	ActionURL string
	// Now is when the mail was written; the notices say when it happened.
	Now time.Time
}

// Rendered is the output of one kind's templates.
type Rendered struct {
	Subject, Text, HTML string
}

// Templates are the parsed templates of every Kind: for each, a subject
// line (text/template), a text part (text/template, inside layout.txt)
// and an HTML part (html/template, inside layout.html). Files in the
// override directory (MAIL_TEMPLATES_DIR) replace the built-in files of
// the same name; the others stay. It is safe for concurrent use.
type Templates struct {
	subject map[Kind]*texttemplate.Template
	text    map[Kind]*texttemplate.Template
	html    map[Kind]*htmltemplate.Template
}

// funcs are the helpers the templates may call.
var funcs = map[string]any{
	// duration says a lifetime in words: "30 minutes", "1 hour", "2 days".
	"duration": humanDuration,
	// datetime formats a time for a notice, in UTC.
	"datetime": func(t time.Time) string { return t.UTC().Format("2 January 2006, 15:04 UTC") },
}

// TemplateFiles are the file names a MAIL_TEMPLATES_DIR may hold: the two
// layouts, then three files per Kind.
func TemplateFiles() []string {
	out := []string{"layout.txt", "layout.html"}
	for _, k := range Kinds {
		out = append(out, string(k)+".subject.txt", string(k)+".txt", string(k)+".html")
	}
	return out
}

// LoadTemplates parses the built-in templates, with the files of dir
// (when not "") in place of those of the same name, and renders each
// kind once with sample data, so that a broken template stops gqlauth at
// start rather than a flow later. A file in dir that is not a template
// name is an error too (a typo would silently change nothing).
func LoadTemplates(dir string) (*Templates, error) {
	read := func(name string) (string, error) {
		b, err := fs.ReadFile(builtin, "templates/"+name)
		return string(b), err
	}
	if dir != "" {
		known := map[string]bool{}
		for _, n := range TemplateFiles() {
			known[n] = true
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
		}
		for _, e := range entries {
			if !e.IsDir() && !known[e.Name()] {
				return nil, fmt.Errorf("MAIL_TEMPLATES_DIR: %s is not a template gqlauth uses (see docs/email.md#templates)", e.Name())
			}
		}
		builtinRead := read
		read = func(name string) (string, error) {
			b, err := os.ReadFile(filepath.Join(dir, name))
			if errors.Is(err, fs.ErrNotExist) {
				return builtinRead(name)
			}
			if err != nil {
				return "", fmt.Errorf("MAIL_TEMPLATES_DIR: %w", err)
			}
			return string(b), nil
		}
	}
	layoutText, err := read("layout.txt")
	if err != nil {
		return nil, err
	}
	layoutHTML, err := read("layout.html")
	if err != nil {
		return nil, err
	}
	t := &Templates{
		subject: map[Kind]*texttemplate.Template{},
		text:    map[Kind]*texttemplate.Template{},
		html:    map[Kind]*htmltemplate.Template{},
	}
	for _, k := range Kinds {
		src := map[string]string{}
		for _, ext := range []string{".subject.txt", ".txt", ".html"} {
			if src[ext], err = read(string(k) + ext); err != nil {
				return nil, fmt.Errorf("template %s%s: %w", k, ext, err)
			}
		}
		if t.subject[k], err = texttemplate.New(string(k) + ".subject.txt").Funcs(funcs).Option("missingkey=error").Parse(src[".subject.txt"]); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		tt, err := texttemplate.New("layout.txt").Funcs(funcs).Option("missingkey=error").Parse(layoutText)
		if err == nil {
			tt, err = tt.New(string(k) + ".txt").Parse(src[".txt"])
		}
		if err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		t.text[k] = tt.Lookup("layout.txt")
		ht, err := htmltemplate.New("layout.html").Funcs(funcs).Option("missingkey=error").Parse(layoutHTML)
		if err == nil {
			ht, err = ht.New(string(k) + ".html").Parse(src[".html"])
		}
		if err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		t.html[k] = ht.Lookup("layout.html")
		if _, err := t.Render(k, sampleData); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// sampleData fills every field, for the check at load.
var sampleData = Data{
	Product: "gqlauth", AppURL: "https://app.example.com", To: "someone@example.com", Name: "Someone",
	Link: "https://app.example.com/auth/email#token=sample", Code: "123456", ExpiresIn: time.Hour,
	OldEmail: "old@example.com", NewEmail: "new@example.com", ActionURL: "https://app.example.com/", Now: time.Unix(0, 0),
}

// Render writes kind's subject and parts with d. The subject is one line
// (line breaks become spaces: a header cannot hold them).
func (t *Templates) Render(kind Kind, d Data) (Rendered, error) {
	st, ok := t.subject[kind]
	if !ok {
		return Rendered{}, fmt.Errorf("mail: no templates for kind %q", kind)
	}
	var subject, text, html bytes.Buffer
	if err := st.Execute(&subject, d); err != nil {
		return Rendered{}, fmt.Errorf("template %s.subject.txt: %w", kind, err)
	}
	if err := t.text[kind].Execute(&text, d); err != nil {
		return Rendered{}, fmt.Errorf("template %s.txt: %w", kind, err)
	}
	if err := t.html[kind].Execute(&html, d); err != nil {
		return Rendered{}, fmt.Errorf("template %s.html: %w", kind, err)
	}
	s := strings.Join(strings.Fields(subject.String()), " ")
	if s == "" {
		return Rendered{}, fmt.Errorf("template %s.subject.txt: renders an empty subject", kind)
	}
	return Rendered{Subject: s, Text: text.String(), HTML: html.String()}, nil
}

// humanDuration says d in the largest whole unit that fits: "90 seconds",
// "30 minutes", "1 hour", "2 days".
func humanDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	case d >= time.Minute:
		return unit(int64(d/time.Minute), "minute")
	default:
		return unit(int64(d/time.Second), "second")
	}
}
