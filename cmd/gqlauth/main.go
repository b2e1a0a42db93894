// Command gqlauth is the GraphQL authentication server and its admin
// command line.
//
//	gqlauth [serve]   run the server (the default)
//	gqlauth migrate   bring the database schema up to date and exit
//	gqlauth healthcheck   probe the local server's /healthz (for containers without curl)
//	gqlauth user …        manage accounts (user.go)
//	gqlauth keys …        manage the signing keys (keys.go)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	"github.com/gqlauth/gqlauth/internal/app"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/database"
)

func main() {
	runtime.MemProfileRate = heapProfileRate(os.Getenv)
	if percent, ok := gcPercent(os.Getenv); ok {
		debug.SetGCPercent(percent)
	}
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gqlauth:", err)
		os.Exit(1)
	}
}

// defaultGCPercent is the garbage collector's target, in percent of the
// live heap, that gqlauth runs with unless GOGC says otherwise. At Go's
// 100, collection took about a sixth of the CPU of a `me` request under
// load (the live heap is small, a few MiB, and a request allocates about
// 27 KB); 150 spends about 2.5 MiB more at the peak for fewer collections
// (docs/performance.md).
const defaultGCPercent = 150

// gcPercent is the GC target main sets: defaultGCPercent, unless the
// GOGC environment variable is set, which the runtime has applied.
func gcPercent(getenv func(string) string) (int, bool) {
	if getenv("GOGC") != "" {
		return 0, false
	}
	return defaultGCPercent, true
}

// heapProfileRate is the runtime's heap-profile sampling rate: its
// default when PPROF_ADDR serves the profiles, else 0. Unasked, the
// sampling's table of sampled stacks grew to 1.5 MiB of resident memory
// under load. main sets it first, before most allocations are made.
func heapProfileRate(getenv func(string) string) int {
	if getenv("PPROF_ADDR") != "" {
		return runtime.MemProfileRate
	}
	return 0
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one kills the process at once.
		<-ctx.Done()
		stop()
	}()
	switch cmd {
	case "serve":
		return serve(ctx, cfg, log)
	case "migrate":
		db, err := database.Open(ctx, cfg.DatabaseURL, database.Settings{})
		if err != nil {
			return err
		}
		defer db.Close()
		applied, err := db.Migrate(ctx)
		for _, name := range applied {
			fmt.Fprintln(stdout, "applied", name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "database schema is up to date")
		return nil
	case "user":
		return userCommand(ctx, cfg, log, args, stdin, stdout)
	case "keys":
		return keysCommand(ctx, cfg, log, args, stdout)
	case "healthcheck":
		return healthcheck(ctx, cfg, stdout)
	case "help", "-h", "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", cmd, usage)
	}
}

const usage = `usage:
  gqlauth [serve]      run the server
  gqlauth migrate      bring the database schema up to date and exit
  gqlauth healthcheck  exit 0 when the server on PORT answers /healthz (for container health checks)
  gqlauth user create --email E [--username U] [--role admin|user] --password-stdin
  gqlauth user set-role (--email E | --id ID) --role admin|user
  gqlauth keys list
  gqlauth keys create [--alg ES256|EdDSA|RS256]
  gqlauth keys rotate [--kid KID] [--alg ES256|EdDSA|RS256] [--force]
  gqlauth keys revoke|restore|delete KID`

func newLogger(cfg *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.SlogLevel()}
	if cfg.Production() {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	cfg.LogWarnings(log)
	a, err := app.New(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		if err := a.Close(); err != nil {
			log.Error("closing connections", "error", err)
		}
	}()
	go a.RunHousekeeping(ctx, time.Hour)
	// The mail worker outlives the signal: it stops after the listeners,
	// once no request can queue a mail, finishing the delivery in flight
	// (bounded by MAIL_TIMEOUT) before the database closes.
	mailCtx, stopMail := context.WithCancel(context.WithoutCancel(ctx))
	mailDone := make(chan struct{})
	go func() {
		defer close(mailDone)
		a.RunMail(mailCtx)
	}()
	defer func() {
		stopMail()
		<-mailDone
	}()
	if cfg.PprofAddr != "" {
		go servePprof(ctx, cfg.PprofAddr, log)
	}

	srv := &http.Server{
		Addr:              net.JoinHostPort("", strconv.Itoa(cfg.Port)),
		Handler:           a.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	servers := []*http.Server{srv}
	if a.MetricsHandler != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", a.MetricsHandler)
		servers = append(servers, &http.Server{
			Addr:              cfg.MetricsAddr,
			Handler:           mux,
			ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout:       10 * time.Second,
			WriteTimeout:      30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		})
	}
	// Listen before announcing, so that a port in use fails the start.
	errc := make(chan error, len(servers))
	for _, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return err
		}
		go func() { errc <- s.Serve(ln) }()
	}
	log.Info("gqlauth listening", "addr", srv.Addr, "metrics_addr", cfg.MetricsAddr,
		"env", cfg.AppEnv, "playground", cfg.Playground())
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return shutdown(a, servers, cfg.ShutdownTimeout, log)
}

// shutdown stops the servers gracefully: /readyz turns 503, the listeners
// close (new connections are refused), idle connections are closed, and
// requests in flight get up to timeout to finish. Past it, the remaining
// connections are cut. The caller then closes the database and Redis.
func shutdown(a *app.App, servers []*http.Server, timeout time.Duration, log *slog.Logger) error {
	log.Info("shutting down", "timeout", timeout.String())
	a.BeginShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("requests still in flight at the shutdown timeout; closing their connections", "addr", s.Addr, "error", err)
			errs = append(errs, s.Close())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// healthcheck asks the server on this machine's PORT for /healthz, so that
// a container image without a shell or curl can have a health check.
func healthcheck(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Port)) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", url, res.Status)
	}
	fmt.Fprintln(stdout, "ok")
	return nil
}
