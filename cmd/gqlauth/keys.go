package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"text/tabwriter"
	"time"

	"github.com/gqlauth/gqlauth/internal/app"
	"github.com/gqlauth/gqlauth/internal/audit"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/token"
)

// keysCommand manages the signing keys on the database the server uses
// (DATABASE_URL, the private keys sealed under DATA_ENCRYPTION_KEY). It
// opens the database only: running servers pick a change up within
// JWT_KEYS_REFRESH_INTERVAL. See docs/keys.md for the rotation runbook.
//
//	gqlauth keys list
//	gqlauth keys create [--alg ES256|EdDSA|RS256]
//	gqlauth keys rotate [--kid KID] [--alg ES256|EdDSA|RS256] [--force]
//	gqlauth keys revoke KID
//	gqlauth keys restore KID
//	gqlauth keys delete KID
func keysCommand(ctx context.Context, cfg *config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: give a subcommand: list, create, rotate, revoke, restore or delete")
	}
	sub, args := args[0], args[1:]
	run, ok := map[string]func(context.Context, *token.KeyStore, *config.Config, []string, io.Writer) error{
		"list":    keysList,
		"create":  keysCreate,
		"rotate":  keysRotate,
		"revoke":  keysRevoke,
		"restore": keysRestore,
		"delete":  keysDelete,
	}[sub]
	if !ok {
		return fmt.Errorf("keys: unknown subcommand %q (want list, create, rotate, revoke, restore or delete)", sub)
	}
	if err := checkKeysArgs(sub, args, stdout); err != nil {
		if errors.Is(err, errHelpShown) {
			return nil
		}
		return err
	}
	db, err := app.OpenDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	dk, err := app.DataKey(cfg, log)
	if err != nil {
		return err
	}
	trail, _, err := app.AuditTrail(cfg, db.Client, log, nil, nil, nil)
	if err != nil {
		return err
	}
	store := app.NewKeyStore(db.Client, cfg, dk).RecordTo(app.KeyEvents(trail, audit.ActorCLI))
	err = run(ctx, store, cfg, args, stdout)
	if err != nil && !errors.Is(err, errHelpShown) {
		return fmt.Errorf("keys %s: %s", sub, describe(err))
	}
	return nil
}

// checkKeysArgs parses a subcommand's flags before anything is opened,
// so that a typo fails at once (and -h prints the flags).
func checkKeysArgs(sub string, args []string, stdout io.Writer) error {
	fs, _ := keysFlags(sub)
	return parseKeysFlags(fs, args, stdout, needsKID(sub))
}

func needsKID(sub string) bool { return sub == "revoke" || sub == "restore" || sub == "delete" }

// keysOptions are the flags of the keys subcommands.
type keysOptions struct {
	alg   *string
	kid   *string
	force *bool
}

func keysFlags(sub string) (*flag.FlagSet, keysOptions) {
	fs := newFlagSet("keys " + sub)
	var o keysOptions
	switch sub {
	case "create":
		o.alg = fs.String("alg", "ES256", "algorithm of the new key: ES256, EdDSA or RS256")
	case "rotate":
		o.kid = fs.String("kid", "", "the key to make current (a standby or previous key); default: the newest standby key")
		o.alg = fs.String("alg", "ES256", "algorithm of the standby key made when there is none")
		o.force = fs.Bool("force", false, "use a standby key published for less than JWKS_MAX_AGE (verifiers with a cached JWKS will refuse its tokens until they refetch)")
	}
	return fs, o
}

// parseKeysFlags parses args; kid says whether one positional argument,
// the key id, is required.
func parseKeysFlags(fs *flag.FlagSet, args []string, stdout io.Writer, kid bool) error {
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
	switch {
	case kid && fs.NArg() != 1:
		return fmt.Errorf("%s: give the key id (see gqlauth keys list)", fs.Name())
	case !kid && fs.NArg() > 0:
		return fmt.Errorf("%s: unexpected argument %q", fs.Name(), fs.Arg(0))
	}
	return nil
}

// keysList prints every key, newest last.
func keysList(ctx context.Context, s *token.KeyStore, _ *config.Config, _ []string, stdout io.Writer) error {
	keys, err := s.List(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tREVOKED")
	for _, k := range keys {
		alg := string(k.Alg)
		if k.Legacy {
			alg += " (legacy)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, alg, k.State,
			stamp(k.CreatedAt), stamp(k.ActivatedAt), stamp(k.RetiredAt), stamp(k.RevokedAt))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

// keysCreate makes a standby key and prints its kid.
func keysCreate(ctx context.Context, s *token.KeyStore, cfg *config.Config, args []string, stdout io.Writer) error {
	fs, o := keysFlags("create")
	_ = fs.Parse(args)
	alg, err := token.ParseAlgorithm(*o.alg)
	if err != nil {
		return err
	}
	k, err := s.Create(ctx, alg)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, k.ID)
	fmt.Fprintf(stdout, "standby %s key %s: published in the JWKS within %s; gqlauth keys rotate may make it current from %s (JWKS_MAX_AGE)\n",
		k.Alg, k.ID, cfg.JWTKeysRefreshInterval, k.CreatedAt.Add(cfg.JWKSMaxAge).UTC().Format(time.RFC3339))
	return nil
}

// keysRotate makes a key current, the current one previous.
func keysRotate(ctx context.Context, s *token.KeyStore, cfg *config.Config, args []string, stdout io.Writer) error {
	fs, o := keysFlags("rotate")
	_ = fs.Parse(args)
	alg, err := token.ParseAlgorithm(*o.alg)
	if err != nil {
		return err
	}
	res, err := s.Rotate(ctx, token.RotateOptions{KID: *o.kid, Alg: alg, MinPublished: cfg.JWKSMaxAge, Force: *o.force})
	if res.Created != nil {
		fmt.Fprintf(stdout, "made standby %s key %s: it is published from now on\n", res.Created.Alg, res.Created.ID)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "current: %s (%s); every instance signs with it within %s\n", res.Current.ID, res.Current.Alg, cfg.JWTKeysRefreshInterval)
	if res.Previous != nil {
		fmt.Fprintf(stdout, "previous: %s (%s); it verifies until %s, then it is revoked\n",
			res.Previous.ID, res.Previous.Alg, res.Previous.RetiredAt.Add(cfg.KeyRetireAfter()).UTC().Format(time.RFC3339))
	}
	return nil
}

// keysRevoke revokes a standby or previous key.
func keysRevoke(ctx context.Context, s *token.KeyStore, cfg *config.Config, args []string, stdout io.Writer) error {
	k, err := s.Revoke(ctx, args[len(args)-1])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "revoked %s (%s): every instance refuses its tokens within %s; undo with gqlauth keys restore %s\n",
		k.ID, k.Alg, cfg.JWTKeysRefreshInterval, k.ID)
	return nil
}

// keysRestore undoes a revocation.
func keysRestore(ctx context.Context, s *token.KeyStore, cfg *config.Config, args []string, stdout io.Writer) error {
	k, err := s.Restore(ctx, args[len(args)-1])
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "restored %s (%s) as previous: it verifies again until %s\n",
		k.ID, k.Alg, k.RetiredAt.Add(cfg.KeyRetireAfter()).UTC().Format(time.RFC3339))
	return nil
}

// keysDelete removes a standby or revoked key for good.
func keysDelete(ctx context.Context, s *token.KeyStore, _ *config.Config, args []string, stdout io.Writer) error {
	kid := args[len(args)-1]
	if err := s.Delete(ctx, kid); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %s\n", kid)
	return nil
}
