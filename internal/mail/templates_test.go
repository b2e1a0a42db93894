package mail_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gqlauth/gqlauth/internal/mail"
)

var data = mail.Data{
	Product: "Acme", AppURL: "https://app.example.com", To: "jane@example.com", Name: "Jane",
	Link: "https://app.example.com/auth/email#token=tok_abc&x=1", Code: "483920", ExpiresIn: 30 * time.Minute,
	OldEmail: "jane@example.com", NewEmail: "jane@new.example", ActionURL: "https://app.example.com/forgot",
	Now: time.Date(2026, 12, 1, 10, 30, 0, 0, time.UTC),
}

// TestBuiltinTemplates: every kind renders a subject, a text and an HTML
// part; the one-time kinds carry the link and the code in both parts;
// the notices carry what they are about.
func TestBuiltinTemplates(t *testing.T) {
	tpl, err := mail.LoadTemplates("")
	if err != nil {
		t.Fatal(err)
	}
	want := map[mail.Kind][]string{
		mail.KindVerifyEmail:          {data.Code, "30 minutes", "jane@example.com"},
		mail.KindPasswordReset:        {data.Code, "30 minutes", "signs out every session"},
		mail.KindPasswordChanged:      {"1 December 2026, 10:30 UTC", data.ActionURL},
		mail.KindEmailChange:          {data.Code, data.NewEmail},
		mail.KindEmailChangeNotice:    {data.OldEmail, data.NewEmail, data.ActionURL},
		mail.KindAccountExists:        {data.To, data.ActionURL},
		mail.KindPasswordResetUnknown: {data.To, "no account uses it"},
		mail.KindFactorRemoved:        {"1 December 2026, 10:30 UTC", data.ActionURL, "authenticator app was removed"},
		mail.KindRecoveryCodeUsed:     {"1 December 2026, 10:30 UTC", data.ActionURL, "recovery code"},
		mail.KindFactorsReset:         {"1 December 2026, 10:30 UTC", data.ActionURL, "administrator removed"},
	}
	for _, k := range mail.Kinds {
		t.Run(string(k), func(t *testing.T) {
			r, err := tpl.Render(k, data)
			if err != nil {
				t.Fatal(err)
			}
			if r.Subject == "" || strings.ContainsAny(r.Subject, "\r\n") || !strings.Contains(r.Subject, "Acme") {
				t.Errorf("subject %q: want one line naming the product", r.Subject)
			}
			for _, w := range append(want[k], "Hello Jane", "Acme") {
				if !strings.Contains(r.Text, w) {
					t.Errorf("text part lacks %q:\n%s", w, r.Text)
				}
				if !strings.Contains(r.HTML, htmlEscape(w)) {
					t.Errorf("HTML part lacks %q:\n%s", w, r.HTML)
				}
			}
			oneTime := slices.Contains([]mail.Kind{mail.KindVerifyEmail, mail.KindPasswordReset, mail.KindEmailChange}, k)
			if oneTime != strings.Contains(r.Text, data.Link) {
				t.Errorf("text part has the link: %v, want %v", !oneTime, oneTime)
			}
			if oneTime && !strings.Contains(r.HTML, `href="https://app.example.com/auth/email#token=tok_abc&amp;x=1"`) {
				t.Errorf("HTML part lacks the link as an href:\n%s", r.HTML)
			}
			if !oneTime && strings.Contains(r.Text+r.HTML, data.Code) {
				t.Errorf("a notice shows the code")
			}
		})
	}
	if _, err := tpl.Render("no_such_kind", data); err == nil {
		t.Error("an unknown kind rendered")
	}
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "'", "&#39;", "<", "&lt;", ">", "&gt;", `"`, "&#34;").Replace(s)
}

// TestTemplatesEscapeHTML: what a user typed (a name) cannot inject
// markup into the HTML part.
func TestTemplatesEscapeHTML(t *testing.T) {
	tpl, _ := mail.LoadTemplates("")
	d := data
	d.Name = `<script>alert(1)</script>`
	r, err := tpl.Render(mail.KindVerifyEmail, d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(r.HTML, "<script>") || !strings.Contains(r.HTML, "&lt;script&gt;") {
		t.Errorf("name not escaped in HTML:\n%s", r.HTML)
	}
}

// TestTemplateOverrides: a file in MAIL_TEMPLATES_DIR replaces the
// built-in one of its name and leaves the others; a broken or unknown
// file stops the start with the file's name.
func TestTemplateOverrides(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("password_reset.subject.txt", "{{.Product}}: your reset code is {{.Code}}\n")
	write("layout.txt", "{{template \"content\" .}}\n-- The {{.Product}} team\n")
	tpl, err := mail.LoadTemplates(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tpl.Render(mail.KindPasswordReset, data)
	if err != nil {
		t.Fatal(err)
	}
	if r.Subject != "Acme: your reset code is 483920" {
		t.Errorf("subject = %q", r.Subject)
	}
	if !strings.HasSuffix(r.Text, "-- The Acme team\n") || strings.Contains(r.Text, "Hello Jane") {
		t.Errorf("text layout not replaced:\n%s", r.Text)
	}
	if !strings.Contains(r.HTML, "Hello Jane") {
		t.Errorf("HTML layout should stay built in:\n%s", r.HTML)
	}
	v, _ := tpl.Render(mail.KindVerifyEmail, data)
	if v.Subject != "Confirm your email address for Acme" {
		t.Errorf("another kind's subject changed: %q", v.Subject)
	}

	for name, text := range map[string]string{
		"verify_email.html":        "{{define \"content\"}}{{.Nope}}{{end}}",
		"verify_email.txt":         "{{define \"content\"}}{{.Code}",
		"password_reset.typo.txt":  "x",
		"email_change.subject.txt": "   ",
	} {
		bad := t.TempDir()
		if err := os.WriteFile(filepath.Join(bad, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := mail.LoadTemplates(bad)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSuffix(strings.TrimSuffix(name, ".txt"), ".html")) {
			t.Errorf("%s: %v, want an error naming it", name, err)
		}
	}
	if _, err := mail.LoadTemplates(filepath.Join(dir, "missing")); err == nil || !strings.HasPrefix(err.Error(), "MAIL_TEMPLATES_DIR:") {
		t.Errorf("missing directory: %v", err)
	}
}

func TestTemplateFiles(t *testing.T) {
	files := mail.TemplateFiles()
	if len(files) != 2+3*len(mail.Kinds) {
		t.Fatalf("%d files", len(files))
	}
	entries, err := os.ReadDir("templates")
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(files) {
		t.Errorf("templates/ holds %d files, TemplateFiles names %d", len(entries), len(files))
	}
	for _, e := range entries {
		if !slices.Contains(files, e.Name()) {
			t.Errorf("templates/%s is not a template file name", e.Name())
		}
	}
}
