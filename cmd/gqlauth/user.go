package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/gqlauth/gqlauth/ent/user"
	"github.com/gqlauth/gqlauth/internal/account"
	"github.com/gqlauth/gqlauth/internal/apierr"
	"github.com/gqlauth/gqlauth/internal/app"
	"github.com/gqlauth/gqlauth/internal/config"
)

// userCommand manages accounts from the command line, on the database the
// server uses (the same configuration, DATABASE_URL first):
//
//	gqlauth user create --email E [--username U] [--role admin|user] --password-stdin
//	gqlauth user set-role (--email E | --id ID) --role admin|user
//
// The password is read from the first line of standard input, never from
// a flag, where any user of the machine could see it in the process list.
// Every failure is one line on standard error and a non-zero exit status.
func userCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("user: give a subcommand: create or set-role")
	}
	var err error
	switch args[0] {
	case "create":
		err = userCreate(ctx, cfg, log, args[1:], stdin, stdout)
	case "set-role":
		err = userSetRole(ctx, cfg, log, args[1:], stdout)
	default:
		err = fmt.Errorf("user: unknown subcommand %q (want create or set-role)", args[0])
	}
	if errors.Is(err, errHelpShown) {
		return nil
	}
	return err
}

// userCreate is `gqlauth user create`: prints the new user's id.
func userCreate(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdin io.Reader, stdout io.Writer) error {
	fs := newFlagSet("user create")
	email := fs.String("email", "", "email address of the new user")
	username := fs.String("username", "", "username of the new user")
	role := fs.String("role", "user", "role of the new user: admin or user")
	passwordStdin := fs.Bool("password-stdin", false, "read the password from the first line of standard input (required)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *email == "" && *username == "" {
		return errors.New("user create: give --email or --username")
	}
	if !*passwordStdin {
		return errors.New("user create: --password-stdin is required: the password is read from standard input, never from a flag")
	}
	r, err := parseRole(*role)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	password, err := readPassword(stdin)
	if err != nil {
		return fmt.Errorf("user create: %w", err)
	}
	accounts, done, err := openAccounts(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer done()
	u, err := accounts.Create(ctx, account.NewUser{
		Email:    nonEmpty(*email),
		Username: nonEmpty(*username),
		Password: password,
		Role:     r,
	})
	if err != nil {
		return fmt.Errorf("user create: %s", describe(err))
	}
	fmt.Fprintln(stdout, u.ID)
	return nil
}

// userSetRole is `gqlauth user set-role`: prints the user's id and new role.
func userSetRole(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	fs := newFlagSet("user set-role")
	email := fs.String("email", "", "email address of the user")
	id := fs.String("id", "", "id of the user")
	role := fs.String("role", "", "the new role: admin or user (required)")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	var who account.UserRef
	switch {
	case (*email == "") == (*id == ""):
		return errors.New("user set-role: give exactly one of --email and --id")
	case *id != "":
		parsed, err := uuid.Parse(*id)
		if err != nil {
			return fmt.Errorf("user set-role: --id %q is not a user id", *id)
		}
		who.ID = &parsed
	default:
		who.Email = email
	}
	if *role == "" {
		return errors.New("user set-role: --role is required (admin or user)")
	}
	r, err := parseRole(*role)
	if err != nil {
		return fmt.Errorf("user set-role: %w", err)
	}
	accounts, done, err := openAccounts(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer done()
	u, err := accounts.AssignRole(ctx, who, r)
	if err != nil {
		return fmt.Errorf("user set-role: %s", describe(err))
	}
	fmt.Fprintln(stdout, u.ID, u.Role)
	return nil
}

// newFlagSet returns a flag set that reports errors to its caller instead
// of printing them, so that each failure stays one line.
func newFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// errHelpShown ends a command after -h printed its flags.
var errHelpShown = errors.New("help shown")

// parseFlags parses args, printing the flags on -h. Positional arguments
// are refused: every input is a named flag.
func parseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(stdout, "usage of gqlauth %s:\n", fs.Name())
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		return errHelpShown
	}
	if err != nil {
		return fmt.Errorf("%s: %v", fs.Name(), err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q (passwords are read from standard input)", fs.Name(), fs.Arg(0))
	}
	return nil
}

// parseRole reads "admin" or "user", in any case.
func parseRole(s string) (user.Role, error) {
	r := user.Role(strings.ToUpper(strings.TrimSpace(s)))
	if user.RoleValidator(r) != nil {
		return "", fmt.Errorf("--role %q: want admin or user", s)
	}
	return r, nil
}

// readPassword returns the first line of r without its line ending.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %v", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("the first line of standard input (the password) is empty")
	}
	return line, nil
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// describe renders a service error in one line, naming every bad field.
func describe(err error) string {
	var e *apierr.Error
	if !errors.As(err, &e) {
		return err.Error()
	}
	if len(e.Fields) == 0 {
		return e.Message
	}
	names := make([]string, 0, len(e.Fields))
	for name := range e.Fields {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + " " + e.Fields[name]
	}
	return e.Message + ": " + strings.Join(parts, "; ")
}

// openAccounts opens the database, and nothing else (no Redis, no HTTP
// server), and returns the account service on it with a function that
// closes it.
func openAccounts(ctx context.Context, cfg *config.Config, log *slog.Logger) (*account.Service, func(), error) {
	db, err := app.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return nil, nil, err
	}
	passwords, err := app.NewPasswords(cfg, log)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	trail, _, err := app.AuditTrail(cfg, db.Client, log, nil, nil, nil)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	policy, err := app.PasswordPolicy(cfg, log)
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return account.New(account.Deps{DB: db.Client, Passwords: passwords, Policy: policy, Audit: trail}), func() { db.Close() }, nil
}
