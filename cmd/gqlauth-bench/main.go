// Command gqlauth-bench measures gqlauth under load against the floor:
// the least work each operation cannot avoid, served in the same run by a
// bare net/http handler using the same libraries. See
// docs/performance.md.
//
//	gqlauth-bench [run]   the load benchmark: me, verify (/auth/verify), refresh, signIn, a mixed SPA session
//	gqlauth-bench scale   users pages at 1k and 1M users, Redis memory of the deny list
//	gqlauth-bench seed    add users to an existing gqlauth database (COPY, in batches)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	args := os.Args[1:]
	cmd := "run"
	if len(args) > 0 && len(args[0]) > 0 && args[0][0] != '-' {
		cmd, args = args[0], args[1:]
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch cmd {
	case "run":
		err = runCommand(ctx, args)
	case "scale":
		err = scaleCommand(ctx, args)
	case "seed":
		err = seedCommand(ctx, args)
	case "floor":
		err = floorCommand(ctx, args)
	default:
		err = fmt.Errorf("unknown command %q (run, scale or seed)", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gqlauth-bench:", err)
		os.Exit(1)
	}
}

// commonFlags are the settings every mode shares.
type commonFlags struct {
	binary     string
	adminURL   string
	redisURL   string
	bcryptCost int
	gomemlimit string
}

func (c *commonFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&c.binary, "binary", "bin/gqlauth", "the gqlauth binary to run (make build)")
	fs.StringVar(&c.adminURL, "database-url", envOr("BENCH_DATABASE_URL", envOr("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")),
		"PostgreSQL to create the bench database on (BENCH_DATABASE_URL)")
	fs.StringVar(&c.redisURL, "redis-url", envOr("BENCH_REDIS_URL", envOr("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")), "Redis for the deny list (BENCH_REDIS_URL)")
	fs.StringVar(&c.gomemlimit, "gomemlimit", "", "GOMEMLIMIT for gqlauth (the Go runtime's soft memory limit, e.g. 24MiB); empty: none")
	fs.IntVar(&c.bcryptCost, "bcrypt-cost", 10, "bcrypt cost of the bench users' passwords, for gqlauth and the sign-in floor alike")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// benchDataKey is gqlauth's DATA_ENCRYPTION_KEY in the bench: gqlauth
// makes its ES256 signing key at start, and the floors sign and verify
// with that same key, read from the bench database.
const benchDataKey = "u8Hq2ZkV5xN9bT3mR7wY1pL4sC6fJ0gD2eA5iO8yTqE="

// benchPassword is every seeded user's password.
const benchPassword = "correct horse battery staple"

// childEnv is gqlauth's configuration in the bench: production mode,
// the bench's own database and Redis prefix.
func childEnv(dbURL, redisURL, prefix string, bcryptCost int) map[string]string {
	return map[string]string{
		"APP_ENV": "production",
		// The bench sends no mail.
		"EMAIL_VERIFICATION":  "off",
		"DATABASE_URL":        dbURL,
		"REDIS_URL":           redisURL,
		"REDIS_KEY_PREFIX":    prefix,
		"DATA_ENCRYPTION_KEY": benchDataKey,
		"BCRYPT_COST":         fmt.Sprint(bcryptCost),
		"LOG_LEVEL":           "warn",
		// The load generator is one client address: the per-IP limit of
		// credential fields would throttle it by design. The per-account
		// lockout stays on (each worker signs in as its own user).
		"RATE_LIMIT_AUTH": "0",
	}
}

// accessTTL is the access-token lifetime of gqlauth and the floors.
const accessTTL = 15 * time.Minute
