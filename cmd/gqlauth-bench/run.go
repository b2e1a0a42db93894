package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/gqlauth/gqlauth/internal/database"
	"github.com/gqlauth/gqlauth/internal/session"
	"github.com/gqlauth/gqlauth/internal/token"
)

// The GraphQL documents the load generator sends.
const (
	meDoc      = `query { me { id email username role } }`
	refreshDoc = `mutation($t: String!) { refresh(refreshToken: $t) { accessToken refreshToken expiresIn } }`
	signInDoc  = `mutation($in: SignInInput!) { signIn(input: $in) { accessToken refreshToken expiresIn user { id } } }`
	logoutDoc  = `mutation { logout }`
)

func gqlBody(doc string, vars map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"query": doc, "variables": vars})
	return b
}

var meBody = gqlBody(meDoc, nil)

func refreshBodyFor(t string) []byte { return gqlBody(refreshDoc, map[string]any{"t": t}) }

func signInBodyFor(email string) []byte {
	return gqlBody(signInDoc, map[string]any{"in": map[string]any{"email": email, "password": benchPassword}})
}

// authPayload is the part of AuthPayload the bench reads.
type authPayload struct {
	AccessToken  string `json:"accessToken"`
	RefreshToken string `json:"refreshToken"`
	ExpiresIn    int    `json:"expiresIn"`
}

func (p authPayload) check() error {
	if p.AccessToken == "" || p.ExpiresIn <= 0 {
		return errors.New("AuthPayload without an access token")
	}
	return nil
}

// runFlags are the load benchmark's settings.
type runFlags struct {
	commonFlags
	conns      int
	duration   time.Duration
	warmup     time.Duration
	out        string
	profileDir string
	scenarios  string
	rounds     int
	// signInDuration and signInWarmup replace duration and warmup for signIn.
	signInDuration time.Duration
	signInWarmup   time.Duration
}

// scenarioResult is one line of the table: gqlauth and its floor in one
// scenario.
type scenarioResult struct {
	Scenario string      `json:"scenario"`
	Gqlauth  loadResult  `json:"gqlauth"`
	Floor    *loadResult `json:"floor,omitempty"`
	// FloorRPS is the floor's requests/s; for the SPA mix, computed from
	// the floors of its parts.
	FloorRPS float64 `json:"floor_rps"`
	Ratio    float64 `json:"ratio"`
	// TotalsRatio is gqlauth's rate over all rounds over the floor's;
	// Ratio is the median of the rounds' ratios (pairedRatio).
	TotalsRatio float64 `json:"totals_ratio,omitempty"`
	// CPURatio is the floor's CPU time per request over gqlauth's: the
	// same comparison by work done, which a busy machine disturbs less.
	CPURatio float64 `json:"cpu_ratio,omitempty"`
	// Target is the ratio gqlauth must reach (0: none).
	Target  float64 `json:"target,omitempty"`
	PeakRSS int64   `json:"gqlauth_peak_rss_bytes"`
	// FloorPeakRSS is the floor server's, for comparison.
	FloorPeakRSS int64 `json:"floor_peak_rss_bytes,omitempty"`
}

// runReport is bench/results.json.
type runReport struct {
	Time           time.Time        `json:"time"`
	GoVersion      string           `json:"go_version"`
	CPUs           int              `json:"cpus"`
	Conns          int              `json:"connections"`
	Duration       string           `json:"duration_per_scenario"`
	Rounds         int              `json:"rounds"`
	SignInDuration string           `json:"signin_duration"`
	SignInRounds   int              `json:"signin_rounds"`
	BcryptCost     int              `json:"bcrypt_cost"`
	GOMEMLIMIT     string           `json:"gqlauth_gomemlimit,omitempty"`
	Scenarios      []scenarioResult `json:"scenarios"`
	MaxPeakRSS     int64            `json:"gqlauth_max_peak_rss_bytes"`
	IdleRSS        int64            `json:"gqlauth_idle_rss_bytes"`
	RSSAnon        int64            `json:"gqlauth_rss_anon_bytes"`
	RSSFile        int64            `json:"gqlauth_rss_file_bytes"`
	Rotation       rotationCheck    `json:"rotation_check"`
	Housekeeping   housekeeping     `json:"housekeeping"`
}

// rotationCheck is the refresh scenario's bookkeeping, checked in the
// database afterwards: each session has exactly one live token and as
// many rotated ones as there were successful refreshes.
type rotationCheck struct {
	Sessions      int  `json:"sessions"`
	LiveTokens    int  `json:"live_tokens"`
	Successes     int  `json:"successful_refreshes"`
	RotatedTokens int  `json:"rotated_tokens"`
	OK            bool `json:"ok"`
}

// housekeeping is the refresh-token table before and after the
// housekeeping job ran over the rotation soak.
type housekeeping struct {
	Retention   string `json:"retention"`
	RowsBefore  int    `json:"rows_before"`
	Deleted     int    `json:"deleted"`
	RowsAfter   int    `json:"rows_after"`
	LiveTokens  int    `json:"live_tokens"`
	InRetention int    `json:"revoked_in_retention"`
	Bounded     bool   `json:"bounded"`
}

func runCommand(ctx context.Context, args []string) error {
	var f runFlags
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	f.register(fs)
	fs.IntVar(&f.conns, "conns", 32, "concurrent connections (workers) per scenario")
	fs.DurationVar(&f.duration, "duration", 18*time.Second, "measured time per scenario and target, split into the rounds")
	fs.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each measurement")
	fs.StringVar(&f.out, "out", "bench/results.json", "where to write the results as JSON")
	fs.StringVar(&f.profileDir, "profile", "", "save gqlauth's CPU and alloc profiles of each scenario in this directory")
	fs.DurationVar(&f.signInDuration, "signin-duration", 30*time.Second, "measured time of the signIn scenario, per target, split into signInRounds rounds")
	fs.DurationVar(&f.signInWarmup, "signin-warmup", 6*time.Second, "warm-up of the signIn scenario")
	fs.IntVar(&f.rounds, "rounds", 9, "alternate floor and gqlauth this many times per scenario; the ratio is the median of the rounds' (3 or more)")
	fs.StringVar(&f.scenarios, "scenarios", "me,verify,refresh,signIn,spa", "the scenarios to run, comma-separated")
	_ = fs.Parse(args)

	b, err := newRunBench(ctx, f)
	if err != nil {
		return err
	}
	defer b.Close()
	rep, err := b.run(ctx)
	if err != nil {
		return err
	}
	printTable(os.Stdout, rep)
	if f.out != "" {
		if err := os.MkdirAll(filepath.Dir(f.out), 0o755); err != nil {
			return err
		}
		out, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(f.out, append(out, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s\n", f.out)
	}
	return nil
}

// runBench is the load benchmark's world: gqlauth as a child process, the
// floor server, the database, Redis, and the seeded users.
type runBench struct {
	f        runFlags
	cleanups []func()
	db       *benchDB
	child    *child
	floor    *child
	pool     *pgxpool.Pool
	gql      *gqlClient
	floorURL string
	http     *http.Client
	users    []uuid.UUID
	issuer   *token.Issuer

	// refreshSessions are the gqlauth sessions of the refresh scenario,
	// and refreshSuccesses how many of their rotations succeeded, for the
	// rotation check.
	refreshSessions  []uuid.UUID
	refreshSuccesses atomic.Int64
	// rssAnon and rssFile are the largest anonymous and file-backed parts
	// of gqlauth's resident memory seen at the end of a round.
	rssAnon, rssFile int64
}

func (b *runBench) Close() {
	for i := len(b.cleanups) - 1; i >= 0; i-- {
		b.cleanups[i]()
	}
}

func newRunBench(ctx context.Context, f runFlags) (_ *runBench, err error) {
	b := &runBench{f: f}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.db, err = createDB(ctx, f.adminURL); err != nil {
		return nil, err
	}
	b.cleanups = append(b.cleanups, func() {
		if err := b.db.Drop(); err != nil {
			fmt.Fprintln(os.Stderr, "drop bench database:", err)
		}
	})
	opts, err := redis.ParseURL(f.redisURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	opts.PoolSize = f.conns
	rdb := redis.NewClient(opts)
	b.cleanups = append(b.cleanups, func() { rdb.Close() })
	prefix, cleanRedis, err := newRedisPrefix(ctx, rdb)
	if err != nil {
		return nil, err
	}
	b.cleanups = append(b.cleanups, cleanRedis)

	fmt.Printf("starting %s on database %s, Redis prefix %s\n", f.binary, b.db.name, prefix)
	env := childEnv(b.db.URL, f.redisURL, prefix, f.bcryptCost)
	if f.gomemlimit != "" {
		env["GOMEMLIMIT"] = f.gomemlimit
	}
	if b.child, err = startChild(ctx, f.binary, env, f.profileDir != ""); err != nil {
		return nil, err
	}
	b.cleanups = append(b.cleanups, b.child.Stop)
	// gqlauth has made its signing key: the bench and the floors use it.
	if b.issuer, err = benchIssuer(ctx, env); err != nil {
		return nil, err
	}

	pool, err := newPool(ctx, b.db.URL, int32(f.conns))
	if err != nil {
		return nil, err
	}
	b.cleanups = append(b.cleanups, pool.Close)
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), f.bcryptCost)
	if err != nil {
		return nil, err
	}
	// Four disjoint sets of users: refresh, signIn, SPA and me.
	if b.users, err = seedUsers(ctx, pool, 0, 4*f.conns, hash, "USER"); err != nil {
		return nil, err
	}
	if _, err := pool.Exec(ctx, "ANALYZE"); err != nil {
		return nil, err
	}
	b.pool = pool
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	b.floor, err = startProcess(ctx, self, []string{"floor", "-database-url", b.db.URL, "-redis-url", f.redisURL,
		"-redis-prefix", prefix, "-conns", fmt.Sprint(f.conns)}, nil, false, "/ready")
	if err != nil {
		return nil, err
	}
	b.cleanups = append(b.cleanups, b.floor.Stop)
	b.floorURL = "http://" + b.floor.Addr

	b.http = newHTTPClient(f.conns)
	b.gql = &gqlClient{http: b.http, url: "http://" + b.child.Addr + "/graphql"}
	return b, nil
}

func (b *runBench) floorClient(path string) *gqlClient {
	return &gqlClient{http: b.http, url: b.floorURL + path}
}

// user is the index of the i-th user of a scenario's set.
func (b *runBench) user(set, i int) int { return set*b.f.conns + i }

// signInAll signs in users set*conns..set*conns+conns-1 through gqlauth.
func (b *runBench) signInAll(ctx context.Context, set int) ([]authPayload, error) {
	out := make([]authPayload, b.f.conns)
	errs := make([]error, b.f.conns)
	var wg sync.WaitGroup
	for i := range out {
		wg.Go(func() {
			var r struct{ SignIn authPayload }
			errs[i] = b.gql.Do(ctx, "", signInBodyFor(benchEmail(b.user(set, i))), &r)
			out[i] = r.SignIn
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func (b *runBench) run(ctx context.Context) (*runReport, error) {
	rep := &runReport{
		Time: time.Now().UTC(), GoVersion: goVersion(), CPUs: numCPU(), Conns: b.f.conns,
		Duration: b.f.duration.String(), SignInDuration: b.f.signInDuration.String(), SignInRounds: signInRounds, Rounds: b.f.rounds, BcryptCost: b.f.bcryptCost, GOMEMLIMIT: b.f.gomemlimit, IdleRSS: b.child.RSS(),
	}
	steps := map[string]func(context.Context) (scenarioResult, error){"me": b.me, "verify": b.verify, "refresh": b.refresh, "signIn": b.signIn,
		"spa": func(ctx context.Context) (scenarioResult, error) { return b.spa(ctx, rep.Scenarios) }}
	for _, name := range strings.Split(b.f.scenarios, ",") {
		s, ok := steps[strings.TrimSpace(name)]
		if !ok {
			return nil, fmt.Errorf("unknown scenario %q (me, verify, refresh, signIn, spa)", name)
		}
		r, err := s(ctx)
		if err != nil {
			return nil, err
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if r.Floor != nil {
			r.TotalsRatio = r.Ratio
			r.Ratio = pairedRatio(r.Gqlauth, *r.Floor)
		}
		fmt.Printf("  %-8s gqlauth %8.0f req/s, floor %8.0f req/s, ratio %5.1f%%, errors %d\n",
			r.Scenario, r.Gqlauth.RPS, r.FloorRPS, 100*r.Ratio, r.Gqlauth.Errors)
		if r.Floor != nil && r.Gqlauth.CPUPerRequest > 0 {
			r.CPURatio = float64(r.Floor.CPUPerRequest) / float64(r.Gqlauth.CPUPerRequest)
		}
		rep.Scenarios = append(rep.Scenarios, r)
		rep.MaxPeakRSS = max(rep.MaxPeakRSS, r.PeakRSS)
		if r.Scenario == "refresh" {
			if rep.Rotation, err = b.checkRotation(ctx); err != nil {
				return nil, err
			}
			if rep.Housekeeping, err = b.housekeeping(ctx); err != nil {
				return nil, err
			}
		}
	}
	rep.RSSAnon, rep.RSSFile = b.rssAnon, b.rssFile
	return rep, nil
}

// compare measures a scenario's floor and gqlauth in alternating rounds
// (floor, gqlauth, floor, gqlauth, ...), so that a change in the
// machine's load during the run weighs on both alike. Each target is
// measured for the scenario's duration in all. It records gqlauth's peak
// RSS and, when asked, its CPU and alloc profiles over the scenario.
func (b *runBench) compare(ctx context.Context, name string, floorWorkers, workers []step) (floor *loadResult, g loadResult, rss, floorRSS int64) {
	return b.compareFor(ctx, name, floorWorkers, workers, b.f.duration, b.f.warmup, b.f.rounds)
}

// compareFor is compare with its own duration, warm-up and rounds.
func (b *runBench) compareFor(ctx context.Context, name string, floorWorkers, workers []step, duration, warmupTime time.Duration, rounds int) (floor *loadResult, g loadResult, rss, floorRSS int64) {
	rounds = max(1, rounds)
	round := duration / time.Duration(rounds)
	var profile sync.WaitGroup
	if b.f.profileDir != "" {
		total := warmupTime + time.Duration(rounds)*(round+warmupTime/4)
		if floorWorkers != nil {
			total *= 2
		}
		profile.Go(func() {
			b.saveProfile(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(total.Seconds())), name+".cpu.pprof")
		})
	}
	var floorSamples, samples []sample
	b.child.ResetPeakRSS()
	b.floor.ResetPeakRSS()
	for i := range rounds {
		warmup := warmupTime
		if i > 0 {
			warmup /= 4
		}
		if floorWorkers != nil {
			floorSamples = append(floorSamples, drive(ctx, floorWorkers, warmup, round, b.floor.CPUTime))
		}
		samples = append(samples, drive(ctx, workers, warmup, round, b.child.CPUTime))
		anon, file := b.child.RSSParts()
		b.rssAnon, b.rssFile = max(b.rssAnon, anon), max(b.rssFile, file)
	}
	rss = b.child.PeakRSS()
	if floorWorkers != nil {
		floorRSS = b.floor.PeakRSS()
	}
	profile.Wait()
	if b.f.profileDir != "" {
		b.saveProfile("/debug/pprof/allocs", name+".allocs.pprof")
		b.saveProfile("/debug/pprof/heap?debug=1", name+".memstats.txt")
	}
	if floorWorkers != nil {
		f := summarize(floorSamples)
		floor = &f
	}
	return floor, summarize(samples), rss, floorRSS
}

func (b *runBench) saveProfile(path, file string) {
	if err := os.MkdirAll(b.f.profileDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	res, err := http.Get("http://" + b.child.PprofAddr + path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer res.Body.Close()
	out, err := os.Create(filepath.Join(b.f.profileDir, file))
	if err != nil {
		fmt.Fprintln(os.Stderr, "profile:", err)
		return
	}
	defer out.Close()
	_, _ = io.Copy(out, res.Body)
}

func ratio(a, floor float64) float64 {
	if floor == 0 {
		return 0
	}
	return a / floor
}

// me: the authenticated read.
func (b *runBench) me(ctx context.Context) (scenarioResult, error) {
	const set = 3
	meStep := func(c *gqlClient, tok string, want uuid.UUID) step {
		return func(ctx context.Context) error {
			var r struct {
				Me struct{ ID string }
			}
			if err := c.Do(ctx, tok, meBody, &r); err != nil {
				return err
			}
			if r.Me.ID != want.String() {
				return fmt.Errorf("me is %q, want %s", r.Me.ID, want)
			}
			return nil
		}
	}
	floorC := b.floorClient("/me")
	floorWorkers := make([]step, b.f.conns)
	for i := range floorWorkers {
		id := b.users[b.user(set, i)]
		email := benchEmail(b.user(set, i))
		tok, _, err := b.issuer.Issue(token.Subject{UserID: id, SessionID: uuid.Must(uuid.NewV7()), Role: "USER", Email: &email})
		if err != nil {
			return scenarioResult{}, err
		}
		floorWorkers[i] = meStep(floorC, tok, id)
	}

	sess, err := b.signInAll(ctx, set)
	if err != nil {
		return scenarioResult{}, fmt.Errorf("sign in for me: %w", err)
	}
	workers := make([]step, b.f.conns)
	for i := range workers {
		workers[i] = meStep(b.gql, sess[i].AccessToken, b.users[b.user(set, i)])
	}
	floor, g, rss, floorRSS := b.compare(ctx, "me", floorWorkers, workers)
	return scenarioResult{Scenario: "me", Gqlauth: g, Floor: floor, FloorRPS: floor.RPS, Ratio: ratio(g.RPS, floor.RPS), Target: 0.80, PeakRSS: rss, FloorPeakRSS: floorRSS}, nil
}

// verify: the forward-auth endpoint a proxy asks before every request,
// with the same users and tokens as me.
func (b *runBench) verify(ctx context.Context) (scenarioResult, error) {
	const set = 3
	verifyStep := func(url, tok string, want uuid.UUID) step {
		return func(ctx context.Context) error {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return err
			}
			req.Header.Set("Authorization", "Bearer "+tok)
			res, err := b.http.Do(req)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", res.StatusCode)
			}
			if got := res.Header.Get("X-Auth-User-Id"); got != want.String() {
				return fmt.Errorf("X-Auth-User-Id is %q, want %s", got, want)
			}
			return nil
		}
	}
	floorWorkers := make([]step, b.f.conns)
	for i := range floorWorkers {
		id := b.users[b.user(set, i)]
		email := benchEmail(b.user(set, i))
		tok, _, err := b.issuer.Issue(token.Subject{UserID: id, SessionID: uuid.Must(uuid.NewV7()), Role: "USER", Email: &email})
		if err != nil {
			return scenarioResult{}, err
		}
		floorWorkers[i] = verifyStep(b.floorURL+"/verify", tok, id)
	}
	sess, err := b.signInAll(ctx, set)
	if err != nil {
		return scenarioResult{}, fmt.Errorf("sign in for verify: %w", err)
	}
	workers := make([]step, b.f.conns)
	for i := range workers {
		workers[i] = verifyStep("http://"+b.child.Addr+"/auth/verify", sess[i].AccessToken, b.users[b.user(set, i)])
	}
	floor, g, rss, floorRSS := b.compare(ctx, "verify", floorWorkers, workers)
	return scenarioResult{Scenario: "verify", Gqlauth: g, Floor: floor, FloorRPS: floor.RPS, Ratio: ratio(g.RPS, floor.RPS), Target: 0.90, PeakRSS: rss, FloorPeakRSS: floorRSS}, nil
}

// rotatingWorker refreshes one session over and over, each request
// presenting the token the previous response handed out.
type rotatingWorker struct {
	c         *gqlClient
	refresh   string
	successes *atomic.Int64
}

func (w *rotatingWorker) step(ctx context.Context) error {
	var r struct{ Refresh authPayload }
	if err := w.c.Do(ctx, "", refreshBodyFor(w.refresh), &r); err != nil {
		return err
	}
	if err := r.Refresh.check(); err != nil {
		return err
	}
	if r.Refresh.RefreshToken == "" || r.Refresh.RefreshToken == w.refresh {
		return errors.New("refresh did not hand out a new refresh token")
	}
	w.refresh = r.Refresh.RefreshToken
	w.successes.Add(1)
	return nil
}

// refresh: rotation, one session per worker.
func (b *runBench) refresh(ctx context.Context) (scenarioResult, error) {
	const set = 0
	var floorOK atomic.Int64
	floorC := b.floorClient("/refresh")
	floorWorkers := make([]step, b.f.conns)
	for i := range floorWorkers {
		raw, err := startFloorSession(ctx, b.pool, b.users[b.user(set, i)])
		if err != nil {
			return scenarioResult{}, fmt.Errorf("floor session: %w", err)
		}
		floorWorkers[i] = (&rotatingWorker{c: floorC, refresh: raw, successes: &floorOK}).step
	}

	sess, err := b.signInAll(ctx, set)
	if err != nil {
		return scenarioResult{}, fmt.Errorf("sign in for refresh: %w", err)
	}
	workers := make([]step, b.f.conns)
	b.refreshSessions = b.refreshSessions[:0]
	for i := range workers {
		c, err := b.issuer.Verify(sess[i].AccessToken)
		if err != nil {
			return scenarioResult{}, err
		}
		b.refreshSessions = append(b.refreshSessions, uuid.MustParse(c.SessionID))
		workers[i] = (&rotatingWorker{c: b.gql, refresh: sess[i].RefreshToken, successes: &b.refreshSuccesses}).step
	}
	floor, g, rss, floorRSS := b.compare(ctx, "refresh", floorWorkers, workers)
	return scenarioResult{Scenario: "refresh", Gqlauth: g, Floor: floor, FloorRPS: floor.RPS, Ratio: ratio(g.RPS, floor.RPS), Target: 0.75, PeakRSS: rss, FloorPeakRSS: floorRSS}, nil
}

// checkRotation counts the refresh scenario's tokens in the database.
func (b *runBench) checkRotation(ctx context.Context) (rotationCheck, error) {
	c := rotationCheck{Sessions: len(b.refreshSessions), Successes: int(b.refreshSuccesses.Load())}
	err := b.pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE revoked_at IS NULL), count(*) FILTER (WHERE revoked_reason = 'rotated')
		FROM refresh_tokens WHERE session_id = ANY($1)`, b.refreshSessions).Scan(&c.LiveTokens, &c.RotatedTokens)
	if err != nil {
		return c, fmt.Errorf("rotation check: %w", err)
	}
	var forked int
	err = b.pool.QueryRow(ctx, `SELECT count(*) FROM (SELECT session_id FROM refresh_tokens
		WHERE session_id = ANY($1) AND revoked_at IS NULL GROUP BY session_id HAVING count(*) <> 1) s`, b.refreshSessions).Scan(&forked)
	if err != nil {
		return c, fmt.Errorf("rotation check: %w", err)
	}
	c.OK = forked == 0 && c.LiveTokens == c.Sessions && c.RotatedTokens == c.Successes
	return c, nil
}

// housekeeping runs gqlauth's housekeeping job (session.Service.DeleteOldTokens)
// over the table the rotation soak left, with a short retention.
func (b *runBench) housekeeping(ctx context.Context) (housekeeping, error) {
	const retention = 2 * time.Second
	h := housekeeping{Retention: retention.String()}
	sleep(ctx, retention+time.Second)
	pool := b.pool
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM refresh_tokens`).Scan(&h.RowsBefore); err != nil {
		return h, err
	}
	db, err := database.Open(ctx, b.db.URL, database.Settings{})
	if err != nil {
		return h, err
	}
	defer db.Close()
	// The server under test runs with the default SESSION_MAX_LIFETIME.
	svc := session.New(session.Deps{DB: db.Client, Tokens: b.issuer, Deny: token.NewMemoryDenyList(accessTTL),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, session.Settings{MaxLifetime: 30 * 24 * time.Hour})
	if h.Deleted, err = svc.DeleteOldTokens(ctx, retention); err != nil {
		return h, err
	}
	err = pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE revoked_at IS NULL AND expires_at > now()),
		count(*) FILTER (WHERE revoked_at >= now() - $1::interval OR (revoked_at IS NULL AND expires_at <= now()))
		FROM refresh_tokens`, retention.String()).Scan(&h.RowsAfter, &h.LiveTokens, &h.InRetention)
	if err != nil {
		return h, err
	}
	h.Bounded = h.RowsAfter == h.LiveTokens+h.InRetention
	return h, nil
}

// signInRounds is how many rounds the signIn scenario alternates: one
// round left the ratio to a single 20 s window of a shared machine.
const signInRounds = 3

// signIn: a password check at the bench's bcrypt cost.
func (b *runBench) signIn(ctx context.Context) (scenarioResult, error) {
	const set = 1
	signInStep := func(c *gqlClient, i int) step {
		body := signInBodyFor(benchEmail(b.user(set, i)))
		return func(ctx context.Context) error {
			var r struct{ SignIn authPayload }
			if err := c.Do(ctx, "", body, &r); err != nil {
				return err
			}
			return r.SignIn.check()
		}
	}
	floorC := b.floorClient("/signin")
	floorWorkers := make([]step, b.f.conns)
	workers := make([]step, b.f.conns)
	for i := range workers {
		floorWorkers[i] = signInStep(floorC, i)
		workers[i] = signInStep(b.gql, i)
	}
	// At a bcrypt cost of 10 a sign-in takes tens of milliseconds of CPU,
	// so 32 of them in flight take seconds to come back: the scenario
	// warms up longer and is measured for longer, in fewer, longer rounds.
	floor, g, rss, floorRSS := b.compareFor(ctx, "signIn", floorWorkers, workers, b.f.signInDuration, b.f.signInWarmup, signInRounds)
	return scenarioResult{Scenario: "signIn", Gqlauth: g, Floor: floor, FloorRPS: floor.RPS, Ratio: ratio(g.RPS, floor.RPS), Target: 0.95, PeakRSS: rss, FloorPeakRSS: floorRSS}, nil
}

// spaWorker plays a single-page app: sign in, 50 reads with a refresh
// after every 10, log out; again.
type spaWorker struct {
	c       *gqlClient
	email   string
	access  string
	refresh string
	k       int
}

// spaReads and spaRefreshEvery shape one SPA session.
const (
	spaReads        = 50
	spaRefreshEvery = 10
	spaSteps        = spaReads + spaReads/spaRefreshEvery // reads and refreshes between sign-in and logout
)

func (w *spaWorker) step(ctx context.Context) error {
	switch {
	case w.access == "":
		var r struct{ SignIn authPayload }
		if err := w.c.Do(ctx, "", signInBodyFor(w.email), &r); err != nil {
			return err
		}
		if err := r.SignIn.check(); err != nil {
			return err
		}
		w.access, w.refresh, w.k = r.SignIn.AccessToken, r.SignIn.RefreshToken, 0
		return nil
	case w.k < spaSteps:
		w.k++
		if w.k%(spaRefreshEvery+1) == 0 {
			var r struct{ Refresh authPayload }
			if err := w.c.Do(ctx, "", refreshBodyFor(w.refresh), &r); err != nil {
				w.access = ""
				return err
			}
			if err := r.Refresh.check(); err != nil {
				w.access = ""
				return err
			}
			w.access, w.refresh = r.Refresh.AccessToken, r.Refresh.RefreshToken
			return nil
		}
		var r struct {
			Me struct{ Email string }
		}
		if err := w.c.Do(ctx, w.access, meBody, &r); err != nil {
			w.access = ""
			return err
		}
		if r.Me.Email != w.email {
			return fmt.Errorf("me is %q, want %s", r.Me.Email, w.email)
		}
		return nil
	default:
		var r struct{ Logout bool }
		err := w.c.Do(ctx, w.access, []byte(`{"query":"`+logoutDoc+`"}`), &r)
		w.access = ""
		if err == nil && !r.Logout {
			err = errors.New("logout returned false")
		}
		return err
	}
}

// spa: the mixed session. Its floor is what the floors of its parts
// allow for the same mix: 1 sign-in, 50 reads, 5 rotations and a logout
// (counted as a rotation: one locked UPDATE and a commit).
func (b *runBench) spa(ctx context.Context, prev []scenarioResult) (scenarioResult, error) {
	const set = 2
	workers := make([]step, b.f.conns)
	for i := range workers {
		workers[i] = (&spaWorker{c: b.gql, email: benchEmail(b.user(set, i))}).step
	}
	_, g, rss, _ := b.compare(ctx, "spa", nil, workers)
	floors := map[string]float64{}
	for _, r := range prev {
		floors[r.Scenario] = r.FloorRPS
	}
	var floorRPS float64
	if floors["me"] > 0 && floors["signIn"] > 0 && floors["refresh"] > 0 {
		perSession := 1/floors["signIn"] + spaReads/floors["me"] + float64(spaReads/spaRefreshEvery+1)/floors["refresh"]
		floorRPS = float64(spaSteps+2) / perSession
	}
	return scenarioResult{Scenario: "spa", Gqlauth: g, FloorRPS: floorRPS, Ratio: ratio(g.RPS, floorRPS), PeakRSS: rss}, nil
}
