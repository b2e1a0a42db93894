package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/gqlauth/gqlauth/ent"
	"github.com/gqlauth/gqlauth/ent/mailmessage"
	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/mail"
	"github.com/gqlauth/gqlauth/internal/mail/smtptest"
)

// backends are the databases the outbox runs on.
var backends = []apptest.Backend{{Name: "sqlite"}, {Name: "postgres", Postgres: true}}

// newDatabaseURL creates an empty database of the backend's kind.
func newDatabaseURL(t *testing.T, b apptest.Backend) string {
	if b.Postgres {
		return apptest.NewPostgresDB(t)
	}
	return apptest.NewSQLiteDB(t)
}

// openDB opens (and migrates) the database at url, as one gqlauth
// instance would; it is closed when the test ends.
func openDB(t *testing.T, url string) *database.DB {
	t.Helper()
	db, err := database.Open(context.Background(), url, database.Settings{StatementTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// instance is one gqlauth's mail system: its own database handle, Mailer
// and log.
type instance struct {
	db     *database.DB
	mailer *mail.Mailer
	logs   *apptest.SyncBuffer
}

// fast are outbox settings for tests: quick retries and polls.
var fast = mail.OutboxSettings{Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, PollInterval: 50 * time.Millisecond}

func newInstance(t *testing.T, dbURL string, set mail.Settings) *instance {
	t.Helper()
	logs := &apptest.SyncBuffer{}
	db := openDB(t, dbURL)
	if set.From == "" {
		set.From = "Acme <no-reply@acme.example>"
	}
	if set.AppURL == "" {
		set.AppURL = "https://app.example.com"
	}
	if set.Timeout == 0 {
		set.Timeout = 5 * time.Second
	}
	if set.Outbox.PollInterval == 0 {
		set.Outbox = fast
	}
	m, err := mail.New(set, db.Client, db.Dialect, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return &instance{db: db, mailer: m, logs: logs}
}

// run runs the instance's worker until the returned stop is called (or
// the test ends); stop waits for Run to return.
func (in *instance) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		in.mailer.Outbox.Run(ctx)
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Error("Outbox.Run did not return within 10s of its context's end")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// queue enqueues a password-reset mail to addr with code in one
// transaction, as a flow would beside its token, and commits.
func (in *instance) queue(t *testing.T, addr, code string) {
	t.Helper()
	ctx := context.Background()
	tx, err := in.db.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, err = in.mailer.Queue(ctx, tx, mail.KindPasswordReset, addr, mail.Data{
		Code: code, Link: "https://app.example.com/reset#token=tok-" + code, ExpiresIn: 30 * time.Minute,
	})
	if err != nil {
		tx.Rollback()
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// rows reads every outbox row.
func (in *instance) rows(t *testing.T) []*ent.MailMessage {
	t.Helper()
	rows, err := in.db.MailMessage.Query().Order(mailmessage.ByCreatedAt()).All(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// waitRows waits until every row satisfies ok.
func (in *instance) waitRows(t *testing.T, what string, ok func(*ent.MailMessage) bool) []*ent.MailMessage {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		rows := in.rows(t)
		all := len(rows) > 0
		for _, r := range rows {
			all = all && ok(r)
		}
		if all {
			return rows
		}
		if time.Now().After(deadline) {
			for _, r := range rows {
				t.Logf("row %s: state %s, attempts %d, last error %v", r.ID, r.State, r.Attempts, r.LastError)
			}
			t.Fatalf("outbox: timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countByID counts the received messages per Message-ID.
func countByID(msgs []smtptest.Message) map[string]int {
	out := map[string]int{}
	for _, m := range msgs {
		out[m.MessageID]++
	}
	return out
}

// TestOutboxDelivers: a mail queued in a committed transaction reaches
// the SMTP server (STARTTLS, AUTH) with its code, once; the row ends
// sent with its bodies erased. A mail queued in a transaction that rolls
// back is never sent. No secret reaches the log.
func TestOutboxDelivers(t *testing.T) {
	apptest.ForEach(t, backends, func(t *testing.T, b apptest.Backend) {
		srv := smtptest.New(t, smtptest.Options{TLS: smtptest.TLSStartTLS, Username: smtpUser, Password: smtpPassword})
		in := newInstance(t, newDatabaseURL(t, b), mail.Settings{URL: srv.URL(), TLSConfig: srv.TLSConfig()})
		in.run(t)
		in.queue(t, "jane@example.com", "483920")

		ctx := context.Background()
		tx, err := in.db.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.mailer.Queue(ctx, tx, mail.KindPasswordReset, "rolled-back@example.com", mail.Data{Code: "111111"}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}

		got := srv.Wait(t, 1, 10*time.Second)[0]
		if got.To[0] != "jane@example.com" || got.Code() != "483920" || !got.TLS || got.AuthUser != smtpUser {
			t.Errorf("received %v code %q TLS %v as %q", got.To, got.Code(), got.TLS, got.AuthUser)
		}
		if got.Subject != "Reset your Acme password" || !strings.Contains(got.HTML, "483920") {
			t.Errorf("subject %q, html has code: %v", got.Subject, strings.Contains(got.HTML, "483920"))
		}
		if !strings.HasSuffix(got.MessageID, "@acme.example") {
			t.Errorf("Message-ID %q, want it at MAIL_FROM's domain", got.MessageID)
		}
		rows := in.waitRows(t, "the row to be sent", func(r *ent.MailMessage) bool { return r.State == mailmessage.StateSent })
		if len(rows) != 1 {
			t.Fatalf("%d rows, want 1 (the rolled-back one must not exist)", len(rows))
		}
		r := rows[0]
		if r.Attempts != 1 || r.SentAt == nil || r.TextBody != "" || r.HTMLBody != "" || r.LastError != nil || r.MessageID != got.MessageID {
			t.Errorf("sent row: attempts %d, sent_at %v, bodies %d+%d bytes, last error %v, message id %q",
				r.Attempts, r.SentAt, len(r.TextBody), len(r.HTMLBody), r.LastError, r.MessageID)
		}
		time.Sleep(200 * time.Millisecond)
		if n := len(srv.Messages()); n != 1 {
			t.Errorf("%d messages received, want 1", n)
		}
		for _, secret := range []string{"483920", "tok-483920", smtpPassword, "111111"} {
			if strings.Contains(in.logs.String(), secret) {
				t.Errorf("the log holds %q:\n%s", secret, in.logs)
			}
		}
		if !strings.Contains(in.logs.String(), "mail sent") {
			t.Errorf("no log line for the delivery:\n%s", in.logs)
		}
	})
}

// TestOutboxRetriesUntilServerUp: the SMTP server is down when the mail
// is queued; the worker retries with backoff, recording each failure;
// once the server is up the mail arrives, exactly once.
func TestOutboxRetriesUntilServerUp(t *testing.T) {
	apptest.ForEach(t, backends, func(t *testing.T, b apptest.Backend) {
		srv := smtptest.New(t, smtptest.Options{Down: true})
		in := newInstance(t, newDatabaseURL(t, b), mail.Settings{URL: srv.URL()})
		in.run(t)
		in.queue(t, "jane@example.com", "483920")

		// A claim counts the attempt before it dials, so attempts alone
		// may include one still in flight; the warnings count the
		// attempts that failed for sure.
		failures := func() int { return strings.Count(in.logs.String(), "will retry") }
		rows := in.waitRows(t, "two failed attempts", func(r *ent.MailMessage) bool { return r.LastError != nil && failures() >= 2 })
		if rows[0].State != mailmessage.StatePending {
			t.Fatalf("state %s after failures, want pending", rows[0].State)
		}
		failed := failures()
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		got := srv.Wait(t, 1, 10*time.Second)
		rows = in.waitRows(t, "the row to be sent", func(r *ent.MailMessage) bool { return r.State == mailmessage.StateSent })
		time.Sleep(300 * time.Millisecond) // time for a duplicate to show up
		if n := len(srv.Messages()); n != 1 || got[0].Code() != "483920" {
			t.Errorf("%d messages received, want exactly 1 with the code", n)
		}
		if rows[0].LastError != nil || rows[0].Attempts < failed+1 {
			t.Errorf("sent row: attempts %d after %d failures, last error %v", rows[0].Attempts, failed, rows[0].LastError)
		}
	})
}

// TestOutboxSurvivesRestart: mails queued while no worker runs, and a
// mail claimed by a worker that died mid-delivery, are delivered by the
// next instance that starts on the database, each once.
func TestOutboxSurvivesRestart(t *testing.T) {
	apptest.ForEach(t, backends, func(t *testing.T, b apptest.Backend) {
		srv := smtptest.New(t, smtptest.Options{})
		url := newDatabaseURL(t, b)
		lease := 500 * time.Millisecond
		first := newInstance(t, url, mail.Settings{URL: srv.URL()})
		first.queue(t, "one@example.com", "100001")
		first.queue(t, "two@example.com", "100002")
		// A worker of the first instance claimed "two" and died: its row
		// is withheld for the lease, then due again.
		ctx := context.Background()
		two, err := first.db.MailMessage.Query().Where(mailmessage.Recipient("two@example.com")).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := first.db.MailMessage.UpdateOne(two).SetAttempts(1).SetNextAttemptAt(time.Now().UTC().Add(lease)).Exec(ctx); err != nil {
			t.Fatal(err)
		}
		first.db.Close() // the first instance stops

		set := fast
		set.Lease = lease
		second := newInstance(t, url, mail.Settings{URL: srv.URL(), Outbox: set})
		second.run(t)
		got := srv.Wait(t, 2, 10*time.Second)
		second.waitRows(t, "both rows to be sent", func(r *ent.MailMessage) bool { return r.State == mailmessage.StateSent })
		time.Sleep(300 * time.Millisecond)
		got = srv.Messages()
		if len(got) != 2 || got[0].To[0] != "one@example.com" || got[1].To[0] != "two@example.com" {
			t.Errorf("received %d messages: %v", len(got), got)
		}
	})
}

// TestOutboxTwoInstances: two instances on one database, each with its
// own connection pool and worker, deliver 40 mails between them, each
// exactly once.
func TestOutboxTwoInstances(t *testing.T) {
	apptest.ForEach(t, backends, func(t *testing.T, b apptest.Backend) {
		srv := smtptest.New(t, smtptest.Options{})
		url := newDatabaseURL(t, b)
		a := newInstance(t, url, mail.Settings{URL: srv.URL()})
		c := newInstance(t, url, mail.Settings{URL: srv.URL()})
		const n = 40
		for i := range n {
			a.queue(t, fmt.Sprintf("user%02d@example.com", i), fmt.Sprintf("%06d", 200000+i))
		}
		a.run(t)
		c.run(t)
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("logs of a:\n%s\nlogs of c:\n%s", a.logs, c.logs)
			}
		})
		srv.Wait(t, n, 30*time.Second)
		a.waitRows(t, "every row to be sent", func(r *ent.MailMessage) bool { return r.State == mailmessage.StateSent })
		time.Sleep(300 * time.Millisecond)
		msgs := srv.Messages()
		if len(msgs) != n {
			t.Errorf("%d messages received, want %d", len(msgs), n)
		}
		for id, count := range countByID(msgs) {
			if count != 1 {
				t.Errorf("message %s received %d times", id, count)
			}
		}
		sentBy := map[string]int{}
		for name, in := range map[string]*instance{"a": a, "c": c} {
			sentBy[name] = strings.Count(in.logs.String(), "mail sent")
		}
		t.Logf("delivered by instance: %v", sentBy)
		if sentBy["a"]+sentBy["c"] != n {
			t.Errorf("instances logged %v deliveries, want %d in all", sentBy, n)
		}
		for _, r := range a.rows(t) {
			if r.Attempts != 1 {
				t.Errorf("row %s took %d attempts", r.ID, r.Attempts)
			}
		}
	})
}

// TestOutboxGivesUp: a mail the server keeps refusing for now ends
// failed after MaxAttempts; one it refuses for good ends failed after
// one. Both lose their bodies and are logged as errors, without them.
func TestOutboxGivesUp(t *testing.T) {
	apptest.ForEach(t, backends, func(t *testing.T, b apptest.Backend) {
		srv := smtptest.New(t, smtptest.Options{RejectRcpt: func(to string) error {
			if strings.HasPrefix(to, "gone") {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
		}})
		in := newInstance(t, newDatabaseURL(t, b), mail.Settings{URL: srv.URL(), MaxAttempts: 3})
		in.run(t)
		in.queue(t, "busy@example.com", "300001")
		in.queue(t, "gone@example.com", "300002")
		rows := in.waitRows(t, "both rows to fail", func(r *ent.MailMessage) bool { return r.State == mailmessage.StateFailed })
		for _, r := range rows {
			want := 3
			if r.Recipient == "gone@example.com" {
				want = 1
			}
			if r.Attempts != want || r.LastError == nil || r.TextBody != "" || r.HTMLBody != "" || r.SentAt != nil {
				t.Errorf("%s: attempts %d (want %d), last error %v, bodies %d+%d bytes", r.Recipient, r.Attempts, want, r.LastError, len(r.TextBody), len(r.HTMLBody))
			}
		}
		if rows[0].LastError == nil || !strings.Contains(*rows[0].LastError, "451") {
			t.Errorf("last error of the busy one: %v", rows[0].LastError)
		}
		logs := in.logs.String()
		if strings.Count(logs, "level=ERROR msg=\"mail failed for good") != 2 {
			t.Errorf("want two ERROR lines:\n%s", logs)
		}
		if strings.Contains(logs, "300001") || strings.Contains(logs, "300002") {
			t.Errorf("the log holds a code:\n%s", logs)
		}
		if len(srv.Messages()) != 0 {
			t.Error("a refused message was received")
		}
	})
}

// slowSender delays every delivery, so that a stop can come mid-send.
type slowSender struct {
	mail.Sender
	started chan struct{}
	delay   time.Duration
}

func (s slowSender) Send(ctx context.Context, m mail.Message) error {
	close(s.started)
	time.Sleep(s.delay)
	return s.Sender.Send(ctx, m)
}

// TestOutboxGracefulStop: a worker told to stop mid-delivery finishes
// the delivery and records it before Run returns.
func TestOutboxGracefulStop(t *testing.T) {
	apptest.ForEach(t, backends, func(t *testing.T, b apptest.Backend) {
		srv := smtptest.New(t, smtptest.Options{})
		db := openDB(t, newDatabaseURL(t, b))
		server, _ := mail.ParseURL(srv.URL())
		smtpSender, err := mail.NewSMTPSender(mail.SMTPSettings{Server: server, From: "no-reply@acme.example", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		sender := slowSender{Sender: smtpSender, started: make(chan struct{}), delay: 300 * time.Millisecond}
		ob, err := mail.NewOutbox(db.Client, db.Dialect, sender, fast, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		tx, _ := db.Tx(ctx)
		if _, err := ob.Enqueue(ctx, tx, mail.Message{Kind: mail.KindPasswordChanged, To: "jane@example.com", Subject: "Changed", Text: "Your password was changed."}); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { ob.Run(runCtx); close(done) }()
		<-sender.started
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
		if len(srv.Messages()) != 1 {
			t.Fatalf("%d messages received, want the one in flight", len(srv.Messages()))
		}
		r, err := db.MailMessage.Query().Only(ctx)
		if err != nil || r.State != mailmessage.StateSent {
			t.Errorf("row after stop: %v, %v; want sent", r, err)
		}
	})
}

// TestOutboxEnqueueChecks: what cannot be sent is refused at enqueue.
func TestOutboxEnqueueChecks(t *testing.T) {
	db := openDB(t, apptest.NewSQLiteDB(t))
	ob, err := mail.NewOutbox(db.Client, db.Dialect, mail.LogSender{Log: slog.New(slog.DiscardHandler)}, fast, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ok := mail.Message{Kind: mail.KindPasswordChanged, To: "jane@example.com", Subject: "Changed", Text: "x"}
	ctx := context.Background()
	for name, m := range map[string]mail.Message{
		"no kind":          {To: ok.To, Subject: ok.Subject, Text: ok.Text},
		"no text":          {Kind: ok.Kind, To: ok.To, Subject: ok.Subject},
		"header injection": {Kind: ok.Kind, To: ok.To, Subject: "Hi\r\nBcc: x@evil.example", Text: ok.Text},
		"display name":     {Kind: ok.Kind, To: "Jane <jane@example.com>", Subject: ok.Subject, Text: ok.Text},
		"two recipients":   {Kind: ok.Kind, To: "a@example.com, b@example.com", Subject: ok.Subject, Text: ok.Text},
		"not an address":   {Kind: ok.Kind, To: "jane", Subject: ok.Subject, Text: ok.Text},
	} {
		tx, _ := db.Tx(ctx)
		if _, err := ob.Enqueue(ctx, tx, m); err == nil {
			t.Errorf("%s: accepted", name)
		}
		tx.Rollback()
	}
	if _, err := ob.Enqueue(ctx, nil, ok); err == nil {
		t.Error("enqueue without a transaction accepted")
	}
}

// TestDevelopmentLog: without MAIL_URL in development the mail is
// written to the log, body and all, under the development banner; in
// production it is never logged (and fails: nothing can send it).
func TestDevelopmentLog(t *testing.T) {
	url := apptest.NewSQLiteDB(t)
	dev := newInstance(t, url, mail.Settings{})
	dev.queue(t, "jane@example.com", "483920")
	if _, err := dev.mailer.Outbox.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs := dev.logs.String()
	if !strings.Contains(logs, "level=INFO msg=\"DEVELOPMENT ONLY: MAIL_URL is not set") || !strings.Contains(logs, "483920") || !strings.Contains(logs, "tok-483920") {
		t.Errorf("development log lacks the banner or the body:\n%s", logs)
	}
	if r := dev.rows(t)[0]; r.State != mailmessage.StateSent {
		t.Errorf("state %s", r.State)
	}

	prod := newInstance(t, apptest.NewSQLiteDB(t), mail.Settings{Production: true})
	prod.queue(t, "jane@example.com", "654321")
	if _, err := prod.mailer.Outbox.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs = prod.logs.String()
	if strings.Contains(logs, "654321") || strings.Contains(logs, "DEVELOPMENT ONLY") {
		t.Errorf("production logged the mail:\n%s", logs)
	}
	if r := prod.rows(t)[0]; r.State != mailmessage.StateFailed || r.Attempts != 1 {
		t.Errorf("production without MAIL_URL: state %s after %d attempts, want failed after 1", r.State, r.Attempts)
	}
}

// TestOutboxDeletesOld: sent and failed messages older than the
// retention go; pending ones stay whatever their age.
func TestOutboxDeletesOld(t *testing.T) {
	clock := time.Now()
	set := fast
	set.Retention = time.Hour
	set.Now = func() time.Time { return clock }
	in := newInstance(t, apptest.NewSQLiteDB(t), mail.Settings{Outbox: set})
	in.queue(t, "sent@example.com", "400001")
	if _, err := in.mailer.Outbox.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
	in.queue(t, "pending@example.com", "400002")
	clock = clock.Add(2 * time.Hour)
	n, err := in.mailer.Outbox.DeleteOld(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("DeleteOld = %d, %v; want 1", n, err)
	}
	if rows := in.rows(t); len(rows) != 1 || rows[0].Recipient != "pending@example.com" {
		t.Errorf("left %v", rows)
	}
}
