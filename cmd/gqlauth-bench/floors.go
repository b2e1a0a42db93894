package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/gqlauth/gqlauth/internal/app"
	"github.com/gqlauth/gqlauth/internal/config"
	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/token"
)

// floorServer is the least work each operation cannot avoid, written with
// the libraries gqlauth uses (golang-jwt through internal/token, go-redis,
// pgx, x/crypto/bcrypt) and no framework: the yardstick gqlauth's numbers
// are divided by. It answers in GraphQL's response shape so that the load
// generator checks both targets the same way.
type floorServer struct {
	pool        *pgxpool.Pool
	rdb         *redis.Client
	redisPrefix string
	issuer      *token.Issuer
	refreshTTL  time.Duration

	// hashes holds each bench user's password hash by email: the sign-in
	// floor has no database read, only the bcrypt compare and the JWT.
	hashes map[string]floorUser
}

type floorUser struct {
	id    uuid.UUID
	email string
	hash  []byte
}

func (f *floorServer) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /me", f.me)
	mux.HandleFunc("GET /verify", f.verify)
	mux.HandleFunc("POST /signin", f.signIn)
	mux.HandleFunc("POST /refresh", f.refresh)
	return mux
}

// floorError answers like a GraphQL error so that the load generator counts it.
func floorError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"errors": []map[string]any{{"message": msg}}})
}

func writeData(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

// verify is the forward-auth floor: verify the JWT (ES256, by its kid,
// as gqlauth does), one Redis round trip (the deny-list keys of the
// token, its session and its user), the identity in response headers.
func (f *floorServer) verify(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	c, err := f.issuer.Verify(raw)
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	n, err := f.rdb.Exists(r.Context(), f.redisPrefix+"deny:jti:"+c.ID, f.redisPrefix+"deny:sid:"+c.SessionID, f.redisPrefix+"deny:user:"+c.Subject).Result()
	if err != nil || n > 0 {
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	h := w.Header()
	h.Set("X-Auth-User-Id", c.Subject)
	h.Set("X-Auth-Session-Id", c.SessionID)
	h.Set("X-Auth-Role", c.Role)
	h.Set("X-Auth-Email", c.Email)
	w.WriteHeader(http.StatusOK)
}

// me is the read floor: verify the JWT (ES256, by its kid), one Redis round trip (the
// deny-list keys of the token, its session and its user), one
// primary-key SELECT of the user over pgx, JSON out.
func (f *floorServer) me(w http.ResponseWriter, r *http.Request) {
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		floorError(w, "no token")
		return
	}
	c, err := f.issuer.Verify(raw)
	if err != nil {
		floorError(w, "bad token")
		return
	}
	ctx := r.Context()
	n, err := f.rdb.Exists(ctx, f.redisPrefix+"deny:jti:"+c.ID, f.redisPrefix+"deny:sid:"+c.SessionID, f.redisPrefix+"deny:user:"+c.Subject).Result()
	if err != nil || n > 0 {
		floorError(w, "denied")
		return
	}
	var u struct {
		ID       string  `json:"id"`
		Email    *string `json:"email"`
		Username *string `json:"username"`
		Role     string  `json:"role"`
	}
	var id pgtype.UUID
	err = f.pool.QueryRow(ctx, `SELECT id, email, username, role FROM users WHERE id = $1`, c.Subject).Scan(&id, &u.Email, &u.Username, &u.Role)
	if err != nil {
		floorError(w, "no user")
		return
	}
	u.ID = uuid.UUID(id.Bytes).String()
	writeData(w, map[string]any{"me": u})
}

// signInBody is the part of a signIn GraphQL request the floor reads.
type signInBody struct {
	Variables struct {
		In struct {
			Email    string `json:"email"`
			Password string `json:"password"`
		} `json:"in"`
	} `json:"variables"`
}

// signIn is the sign-in floor: one bcrypt compare at the configured cost
// and one JWT signature (ES256, gqlauth's key).
func (f *floorServer) signIn(w http.ResponseWriter, r *http.Request) {
	var b signInBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		floorError(w, "bad body")
		return
	}
	u, ok := f.hashes[b.Variables.In.Email]
	if !ok || bcrypt.CompareHashAndPassword(u.hash, []byte(b.Variables.In.Password)) != nil {
		floorError(w, "wrong password")
		return
	}
	access, _, err := f.issuer.Issue(token.Subject{UserID: u.id, SessionID: uuid.New(), Role: "USER", Email: &u.email})
	if err != nil {
		floorError(w, err.Error())
		return
	}
	writeData(w, map[string]any{"signIn": map[string]any{"accessToken": access, "expiresIn": 900}})
}

// refreshBody is the part of a refresh GraphQL request the floor reads.
type refreshBody struct {
	Variables struct {
		T string `json:"t"`
	} `json:"variables"`
}

var errFloorRotated = errors.New("token is not live")

// refresh is the rotation floor: in one transaction, lock the presented
// token's row (joined with its user, whose claims the JWT carries), mark
// it rotated, insert its successor, commit; then sign one JWT (ES256).
func (f *floorServer) refresh(w http.ResponseWriter, r *http.Request) {
	var b refreshBody
	if err := json.NewDecoder(r.Body).Decode(&b); err != nil {
		floorError(w, "bad body")
		return
	}
	ctx := r.Context()
	next, nextHash := token.NewRefreshToken()
	nextID := uuid.Must(uuid.NewV7())
	var (
		userID, sessionID pgtype.UUID
		email, username   *string
		role              string
	)
	err := pgx.BeginFunc(ctx, f.pool, func(tx pgx.Tx) error {
		var (
			id      pgtype.UUID
			revoked *time.Time
		)
		// The same row work as gqlauth: the session row locked and
		// touched, the token revoked, its successor stored.
		err := tx.QueryRow(ctx, `SELECT t.id, t.user_id, t.session_id, t.revoked_at, u.email, u.username, u.role
			FROM refresh_tokens t JOIN users u ON u.id = t.user_id
			WHERE t.token_hash = $1 FOR UPDATE OF t`, token.HashRefreshToken(b.Variables.T)).
			Scan(&id, &userID, &sessionID, &revoked, &email, &username, &role)
		if err != nil {
			return err
		}
		if revoked != nil {
			return errFloorRotated
		}
		now := time.Now()
		if _, err := tx.Exec(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND revoked_at IS NULL`, sessionID, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE refresh_tokens SET revoked_at = $2, revoked_reason = 'rotated', replaced_by = $3 WHERE id = $1`, id, now, nextID); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO refresh_tokens (id, user_id, token_hash, session_id, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, nextID, userID, nextHash, sessionID, now, now.Add(f.refreshTTL))
		return err
	})
	if err != nil {
		floorError(w, err.Error())
		return
	}
	access, _, err := f.issuer.Issue(token.Subject{UserID: userID.Bytes, SessionID: sessionID.Bytes, Role: role, Email: email, Username: username})
	if err != nil {
		floorError(w, err.Error())
		return
	}
	writeData(w, map[string]any{"refresh": map[string]any{"accessToken": access, "refreshToken": next, "expiresIn": 900}})
}

// benchIssuer signs and verifies like gqlauth configured with env: with
// the signing keys gqlauth keeps in the bench database (it made an ES256
// key at start), read once.
func benchIssuer(ctx context.Context, env map[string]string) (*token.Issuer, error) {
	cfg, err := config.FromEnv(env)
	if err != nil {
		return nil, err
	}
	dk, err := cfg.DataKey()
	if err != nil {
		return nil, err
	}
	db, err := database.Open(ctx, cfg.DatabaseURL, database.Settings{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	keys, err := app.NewKeyStore(db.Client, cfg, dk).SigningKeys(ctx)
	if err != nil {
		return nil, err
	}
	set, err := token.NewKeySet(ctx, token.StaticKeys(keys), nil)
	if err != nil {
		return nil, err
	}
	return token.NewIssuer(set, token.IssuerSettings{Issuer: cfg.JWTIssuer, Audience: cfg.JWTAudience, ClientID: cfg.ClientID(), TTL: accessTTL}), nil
}

// startFloorSession stores the first refresh token of a floor session
// for userID and returns the token.
func startFloorSession(ctx context.Context, pool *pgxpool.Pool, userID uuid.UUID) (string, error) {
	raw, hash := token.NewRefreshToken()
	now := time.Now()
	sid := uuid.Must(uuid.NewV7())
	if _, err := pool.Exec(ctx, `INSERT INTO sessions (id, user_id, created_at, last_seen_at, expires_at, aal)
		VALUES ($1, $2, $3, $3, $4, 1)`, sid, userID, now, now.Add(30*24*time.Hour)); err != nil {
		return "", err
	}
	_, err := pool.Exec(ctx, `INSERT INTO refresh_tokens (id, user_id, token_hash, session_id, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)`, uuid.Must(uuid.NewV7()), userID, hash, sid, now, now.Add(7*24*time.Hour))
	return raw, err
}

// floorCommand serves the floors in a process of their own (started by
// the run command, like gqlauth), on PORT, against the bench's database
// and Redis prefix. The sign-in floor learns the users' password hashes
// at start.
func floorCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("floor", flag.ExitOnError)
	dbURL := fs.String("database-url", "", "the bench database")
	redisURL := fs.String("redis-url", "", "Redis")
	prefix := fs.String("redis-prefix", "", "the bench's Redis key prefix")
	conns := fs.Int("conns", 32, "size of the PostgreSQL and Redis pools")
	_ = fs.Parse(args)
	pool, err := newPool(ctx, *dbURL, int32(*conns))
	if err != nil {
		return err
	}
	defer pool.Close()
	opts, err := redis.ParseURL(*redisURL)
	if err != nil {
		return err
	}
	opts.PoolSize = *conns
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	issuer, err := benchIssuer(ctx, childEnv(*dbURL, *redisURL, *prefix, 10))
	if err != nil {
		return err
	}
	f := &floorServer{pool: pool, rdb: rdb, redisPrefix: *prefix, refreshTTL: 7 * 24 * time.Hour,
		issuer: issuer, hashes: map[string]floorUser{}}
	rows, err := pool.Query(ctx, `SELECT id, email, password_hash FROM users WHERE email IS NOT NULL`)
	if err != nil {
		return err
	}
	for rows.Next() {
		var (
			u    floorUser
			id   pgtype.UUID
			hash string
		)
		if err := rows.Scan(&id, &u.email, &hash); err != nil {
			return err
		}
		u.id, u.hash = id.Bytes, []byte(hash)
		f.hashes[u.email] = u
	}
	if err := rows.Err(); err != nil {
		return err
	}
	mux := f.handler().(*http.ServeMux)
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {})
	srv := &http.Server{Addr: "127.0.0.1:" + os.Getenv("PORT"), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
