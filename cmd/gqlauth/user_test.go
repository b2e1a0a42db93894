package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/internal/apptest"
	"github.com/gqlauth/gqlauth/internal/config"
)

// gqlauthBinary is the real command, built once by TestMain.
var gqlauthBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gqlauth-cli-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gqlauthBinary = filepath.Join(dir, "gqlauth")
	build := exec.Command("go", "build", "-o", gqlauthBinary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build gqlauth:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// cliResult is what one run of the command did.
type cliResult struct {
	code           int
	stdout, stderr string
}

// runCLI runs the built gqlauth with args and stdin, configured like the
// server cfg (its database, deny list and keys) and nothing else: an
// empty working directory (no .env) and only PATH and HOME inherited.
func runCLI(t *testing.T, cfg *config.Config, stdin string, args ...string) cliResult {
	t.Helper()
	return runCLIEnv(t, cliEnv(cfg), stdin, args...)
}

// cliEnv is the environment of a gqlauth configured like cfg.
func cliEnv(cfg *config.Config, extra ...string) []string {
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + os.Getenv("HOME"),
		"APP_ENV=test",
		"LOG_LEVEL=warn",
		"BCRYPT_COST=" + strconv.Itoa(cfg.BcryptCost),
		"JWT_ACCESS_SECRET=" + cfg.JWTAccessSecret,
		"DATA_ENCRYPTION_KEY=" + cfg.DataEncryptionKey,
		"DATABASE_URL=" + cfg.DatabaseURL,
	}
	if cfg.RedisURL != "" {
		env = append(env, "REDIS_URL="+cfg.RedisURL, "REDIS_KEY_PREFIX="+cfg.RedisKeyPrefix)
	}
	return append(env, extra...)
}

// runCLIEnv runs the built gqlauth with args and stdin in env, in an
// empty working directory.
func runCLIEnv(t *testing.T, env []string, stdin string, args ...string) cliResult {
	t.Helper()
	cmd := exec.Command(gqlauthBinary, args...)
	cmd.Dir = t.TempDir()
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run gqlauth %v: %v", args, err)
	}
	return res
}

// wantFailure checks a run failed with a one-line reason that says why.
func wantFailure(t *testing.T, r cliResult, reason string) {
	t.Helper()
	if r.code == 0 {
		t.Fatalf("exit status 0 (stdout %q), want a failure saying %q", r.stdout, reason)
	}
	msg := strings.TrimSuffix(r.stderr, "\n")
	if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "gqlauth: ") || !strings.Contains(msg, reason) {
		t.Fatalf("stderr %q, want one line saying %q", r.stderr, reason)
	}
}

// TestUserCommand runs the real `gqlauth user` against the database of a
// running server: the admin it creates can list the users through
// GraphQL, set-role changes roles, and bad input fails with a reason.
func TestUserCommand(t *testing.T) {
	apptest.ForEach(t, apptest.Backends, func(t *testing.T, b apptest.Backend) {
		cfg := apptest.Config(t, b, nil)
		srv := apptest.Start(t, cfg)
		const password = "first admin password"
		email := apptest.UniqueEmail("root")

		r := runCLI(t, cfg, password+"\n", "user", "create", "--email", email, "--role", "admin", "--password-stdin")
		if r.code != 0 {
			t.Fatalf("user create: exit %d: %s", r.code, r.stderr)
		}
		adminID := strings.TrimSpace(r.stdout)
		if _, err := uuid.Parse(adminID); err != nil {
			t.Fatalf("user create printed %q, want the new id", r.stdout)
		}
		if strings.Contains(r.stdout+r.stderr, password) {
			t.Fatal("the password was echoed")
		}

		// The new admin signs in and lists the users through GraphQL.
		admin := srv.Client()
		if p := admin.SignIn(t, email, password); p.User.ID != adminID || p.User.Role != "ADMIN" {
			t.Fatalf("signed in as %+v, want admin %s", p.User, adminID)
		}
		bob := srv.Client()
		bobEmail := apptest.UniqueEmail("bob")
		bob.SignUp(t, bobEmail, "bob's password")
		var list struct {
			Users struct {
				TotalCount int
				Edges      []struct {
					Node struct{ ID, Email, Role string }
				}
			}
		}
		admin.Do(t, `{ users(orderBy: {field: CREATED_AT}) { totalCount edges { node { id email role } } } }`, nil).Decode(t, &list)
		if list.Users.TotalCount != 2 || list.Users.Edges[0].Node.ID != adminID || list.Users.Edges[1].Node.Email != bobEmail {
			t.Fatalf("users = %+v", list.Users)
		}

		// Bad input: a non-zero exit and a one-line reason.
		wantFailure(t, runCLI(t, cfg, password+"\n", "user", "create", "--email", apptest.UniqueEmail("x")), "--password-stdin is required")
		wantFailure(t, runCLI(t, cfg, "\n", "user", "create", "--email", apptest.UniqueEmail("x"), "--password-stdin"), "is empty")
		wantFailure(t, runCLI(t, cfg, "", "user", "create", "--email", apptest.UniqueEmail("x"), "--password-stdin"), "is empty")
		wantFailure(t, runCLI(t, cfg, "short\n", "user", "create", "--email", "not-an-email", "--password-stdin"),
			"email is not a valid email address; password must be at least 8 characters")
		// The password policy applies here as at sign-up.
		wantFailure(t, runCLI(t, cfg, "iloveyou1\n", "user", "create", "--email", apptest.UniqueEmail("x"), "--password-stdin"),
			"password is too common")
		wantFailure(t, runCLI(t, cfg, password+"\n", "user", "create", "--email", strings.ToUpper(email), "--password-stdin"), "already registered")
		wantFailure(t, runCLI(t, cfg, password+"\n", "user", "create", "--email", apptest.UniqueEmail("x"), "--role", "root", "--password-stdin"), "want admin or user")
		wantFailure(t, runCLI(t, cfg, "", "user", "create", "--email", apptest.UniqueEmail("x"), "--password", password), "flag provided but not defined: -password")
		wantFailure(t, runCLI(t, cfg, "", "user", "create", "--password-stdin", password), "unexpected argument")
		wantFailure(t, runCLI(t, cfg, "", "user", "set-role", "--email", bobEmail, "--id", adminID, "--role", "admin"), "exactly one of --email and --id")
		wantFailure(t, runCLI(t, cfg, "", "user", "set-role", "--email", bobEmail), "--role is required")
		wantFailure(t, runCLI(t, cfg, "", "user", "set-role", "--id", "42", "--role", "admin"), "is not a user id")
		wantFailure(t, runCLI(t, cfg, "", "user", "set-role", "--email", apptest.UniqueEmail("nobody"), "--role", "admin"), "user not found")
		wantFailure(t, runCLI(t, cfg, "", "user", "set-role", "--id", adminID, "--role", "user"), "last ADMIN")
		wantFailure(t, runCLI(t, cfg, "", "user", "promote"), "unknown subcommand")
		wantFailure(t, runCLI(t, cfg, "", "user"), "give a subcommand")

		// set-role by email promotes bob; by id it then demotes the first
		// admin, who loses admin powers at once.
		r = runCLI(t, cfg, "", "user", "set-role", "--email", strings.ToUpper(bobEmail), "--role", "ADMIN")
		if r.code != 0 || !strings.Contains(r.stdout, "ADMIN") {
			t.Fatalf("set-role bob: exit %d: %s %s", r.code, r.stdout, r.stderr)
		}
		bob.SignIn(t, bobEmail, "bob's password")
		if res := bob.Do(t, `{ users { totalCount } }`, nil); len(res.Errors) > 0 {
			t.Fatalf("bob after promotion: %s", res.Body)
		}
		r = runCLI(t, cfg, "", "user", "set-role", "--id", adminID, "--role", "user")
		if r.code != 0 {
			t.Fatalf("set-role demote: exit %d: %s", r.code, r.stderr)
		}
		if res := admin.Do(t, `{ users { totalCount } }`, nil); res.Code() != "FORBIDDEN" {
			t.Fatalf("demoted admin: %s", res.Body)
		}
	})
}
