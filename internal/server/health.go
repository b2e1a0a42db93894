package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// readyTimeout bounds each dependency check of /readyz.
const readyTimeout = 2 * time.Second

// healthz answers 200 while the process can serve HTTP at all. It checks
// no dependency: a liveness probe that failed when the database is down
// would restart every instance during a database outage.
func healthz(w http.ResponseWriter, _ *http.Request) {
	writeHealth(w, http.StatusOK, map[string]any{"status": "ok"})
}

// readiness answers /readyz: 200 when the database (and Redis, when
// configured) answer a ping, else 503 with a JSON body naming what is
// down. While the server shuts down it answers 503 so that load
// balancers stop sending it new requests.
type readiness struct {
	db       *sql.DB
	redis    redis.UniversalClient
	draining func() bool
	log      *slog.Logger
}

// readyBody is the JSON of /readyz.
type readyBody struct {
	// Status is "ok", "unavailable" or "shutting_down".
	Status string `json:"status"`
	// Checks maps each dependency ("database", "redis") to "ok" or "down".
	Checks map[string]string `json:"checks"`
}

func (rd readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	checks := map[string]func(context.Context) error{}
	if rd.db != nil {
		checks["database"] = rd.db.PingContext
	}
	if rd.redis != nil {
		checks["redis"] = func(ctx context.Context) error { return rd.redis.Ping(ctx).Err() }
	}
	body := readyBody{Status: "ok", Checks: make(map[string]string, len(checks))}
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for name, check := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
			defer cancel()
			err := check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				// The cause goes to the log only: it may name hosts and users.
				rd.log.WarnContext(r.Context(), "readiness check failed", "dependency", name, "error", err)
				body.Checks[name] = "down"
				body.Status = "unavailable"
				return
			}
			body.Checks[name] = "ok"
		}()
	}
	wg.Wait()
	if rd.draining != nil && rd.draining() {
		body.Status = "shutting_down"
	}
	status := http.StatusOK
	if body.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	writeHealth(w, status, body)
}

func writeHealth(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
