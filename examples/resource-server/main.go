// Command resource-server is a small API that trusts gqlauth's access
// tokens without holding any of gqlauth's secrets: the verify package
// fetches gqlauth's public keys (JWKS) and checks each token, and, given
// gqlauth's Redis, refuses tokens gqlauth has denied (logouts).
//
//	make run    # gqlauth, in another terminal
//	go run ./examples/resource-server -gqlauth http://localhost:8080
//	curl -H "Authorization: Bearer $TOKEN" http://localhost:8081/hello
//
// GET /hello answers who the caller is; GET /admin answers only ADMINs.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gqlauth/gqlauth/verify"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "resource-server:", err)
		os.Exit(1)
	}
}

// run serves the API until ctx ends, on ln when given (tests), else on
// the -addr flag's address.
func run(ctx context.Context, args []string, ln net.Listener, stdout io.Writer) error {
	fs := flag.NewFlagSet("resource-server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8081", "address to listen on")
	gqlauth := fs.String("gqlauth", "http://localhost:8080", "gqlauth's base URL (its JWKS is at /.well-known/jwks.json)")
	issuer := fs.String("issuer", "gqlauth", "gqlauth's JWT_ISSUER")
	audience := fs.String("audience", "gqlauth", "gqlauth's JWT_AUDIENCE")
	redisURL := fs.String("redis", "", "gqlauth's REDIS_URL, to refuse tokens it has denied (logouts); empty: none")
	prefix := fs.String("redis-prefix", "gqlauth:", "gqlauth's REDIS_KEY_PREFIX")
	refresh := fs.Duration("jwks-refresh", 5*time.Minute, "how often to fetch the JWKS again (a revoked key stops verifying within it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := verify.Config{
		JWKSURL:         strings.TrimSuffix(*gqlauth, "/") + "/.well-known/jwks.json",
		Issuer:          *issuer,
		Audience:        *audience,
		RefreshInterval: *refresh,
	}
	if *redisURL != "" {
		opts, err := redis.ParseURL(*redisURL)
		if err != nil {
			return fmt.Errorf("-redis: %w", err)
		}
		rdb := redis.NewClient(opts)
		defer rdb.Close()
		cfg.DenyList = verify.NewRedisDenyList(rdb, *prefix)
	}
	v, err := verify.New(ctx, cfg)
	if err != nil {
		return err
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", *addr); err != nil {
			return err
		}
	}
	srv := &http.Server{Handler: newHandler(v), ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	fmt.Fprintf(stdout, "resource server on http://%s, trusting %s\n", ln.Addr(), cfg.JWKSURL)
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newHandler is the API: every route behind the verifier's middleware.
func newHandler(v *verify.Verifier) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context())
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]string{"user": c.Subject, "email": c.Email, "role": c.Role})
	})
	mux.HandleFunc("GET /admin", func(w http.ResponseWriter, r *http.Request) {
		c, _ := verify.ClaimsFrom(r.Context())
		if c.Role != "ADMIN" {
			http.Error(w, "admins only", http.StatusForbidden)
			return
		}
		_, _ = io.WriteString(w, "welcome, admin\n")
	})
	return v.Middleware(mux)
}
