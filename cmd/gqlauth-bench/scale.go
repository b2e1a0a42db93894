package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/gqlauth/gqlauth/ent/relay"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/gqlauth/gqlauth/internal/token"
)

// seedCommand adds users to an existing gqlauth database (already
// migrated), e.g. to try pagination on a large table by hand.
func seedCommand(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	dbURL := fs.String("database-url", "", "the gqlauth database to add users to (required)")
	n := fs.Int("users", 1_000_000, "how many users to add")
	from := fs.Int("from", 0, "index of the first user (emails userNNNNNNN@bench.example)")
	cost := fs.Int("bcrypt-cost", 4, "bcrypt cost of the users' password hash (password: "+benchPassword+")")
	_ = fs.Parse(args)
	if *dbURL == "" {
		return errors.New("seed: -database-url is required")
	}
	pool, err := newPool(ctx, *dbURL, 4)
	if err != nil {
		return err
	}
	defer pool.Close()
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), *cost)
	if err != nil {
		return err
	}
	start := time.Now()
	if _, err := seedUsers(ctx, pool, *from, *from+*n, hash, "USER"); err != nil {
		return err
	}
	if _, err := pool.Exec(ctx, "ANALYZE users"); err != nil {
		return err
	}
	fmt.Printf("added %d users in %s\n", *n, time.Since(start).Round(time.Millisecond))
	return nil
}

// scaleReport is bench/scale.json.
type scaleReport struct {
	Time        time.Time   `json:"time"`
	LoadAverage string      `json:"load_average,omitempty"`
	Pages       []pageTimes `json:"users_pages"`
	Target      pageTarget  `json:"page_info_target"`
	Deny        denyMemory  `json:"deny_list_memory"`
}

// pageTarget is issue 18's target: a page with pageInfo at the largest
// size within 2× of the smallest, at every position.
type pageTarget struct {
	Small    int           `json:"small_users"`
	Large    int           `json:"large_users"`
	Position string        `json:"worst_position"`
	SmallP99 time.Duration `json:"small_p99_ns"`
	LargeP99 time.Duration `json:"large_p99_ns"`
	Ratio    float64       `json:"ratio"`
	Met      bool          `json:"met"`
}

// maxPageInfoRatio is how much slower a page with pageInfo may get from
// the smallest table to the largest.
const maxPageInfoRatio = 2.0

// pageTimes is the latency of users(first: 20) at one position of a
// table of Users users.
type pageTimes struct {
	Users    int           `json:"users"`
	Position string        `json:"position"`
	Requests int           `json:"requests"`
	P50      time.Duration `json:"p50_ns"`
	P99      time.Duration `json:"p99_ns"`
	// WithPageInfo are the same pages with pageInfo selected too: the
	// page's extra row tells hasNextPage, no count
	// (ent/template/pagination.tmpl; entgql's own template counted the
	// whole table for it).
	WithPageInfoRequests int           `json:"with_page_info_requests"`
	WithPageInfoP50      time.Duration `json:"with_page_info_p50_ns"`
	WithPageInfoP99      time.Duration `json:"with_page_info_p99_ns"`
	// WithTotalCount are the pages with pageInfo and totalCount: a
	// SELECT COUNT(*) over the table on top.
	WithTotalCountRequests int           `json:"with_total_count_requests"`
	WithTotalCountP50      time.Duration `json:"with_total_count_p50_ns"`
	WithTotalCountP99      time.Duration `json:"with_total_count_p99_ns"`
	SeedTime               time.Duration `json:"seed_time_ns,omitempty"`
}

// denyMemory is what the Redis deny list costs.
type denyMemory struct {
	Redis          string `json:"redis"`
	Logouts        int    `json:"logouts"`
	KeysPerLogout  int    `json:"keys_per_logout"`
	TokenKeyBytes  int64  `json:"memory_usage_jti_key_bytes"`
	SessionKeyByte int64  `json:"memory_usage_sid_key_bytes"`
	UsedBefore     int64  `json:"used_memory_before_bytes"`
	UsedAfter      int64  `json:"used_memory_after_logouts_bytes"`
	UsedExpired    int64  `json:"used_memory_after_expiry_bytes"`
	KeysAfter      int64  `json:"keys_after_logouts"`
	KeysExpired    int64  `json:"keys_after_expiry"`
	TTL            string `json:"ttl"`
	ExpiredAfter   string `json:"expired_after"`
}

// The users pages timed: edges only (the keyset query alone), with
// pageInfo as a paging client asks, and with totalCount too.
const (
	usersPageDoc          = `query($after: Cursor) { users(first: 20, after: $after) { edges { cursor node { id email } } } }`
	usersPageWithInfoDoc  = `query($after: Cursor) { users(first: 20, after: $after) { edges { cursor node { id email } } pageInfo { hasNextPage endCursor } } }`
	usersPageWithCountDoc = `query($after: Cursor) { users(first: 20, after: $after) { edges { cursor node { id email } } pageInfo { hasNextPage endCursor } totalCount } }`
)

func scaleCommand(ctx context.Context, args []string) error {
	var c commonFlags
	fs := flag.NewFlagSet("scale", flag.ExitOnError)
	c.register(fs)
	sizes := fs.String("users", "1000,1000000", "table sizes to measure pages at, ascending, comma-separated")
	requests := fs.Int("requests", 400, "requests per page position (4 at a time)")
	logouts := fs.Int("logouts", 100_000, "logouts written to the deny list for the Redis memory measurement")
	denyTTL := fs.Duration("deny-ttl", 30*time.Second, "lifetime of the deny entries in the Redis measurement (the access-token TTL)")
	out := fs.String("out", "bench/scale.json", "where to write the results as JSON")
	_ = fs.Parse(args)

	rep := &scaleReport{Time: time.Now().UTC(), LoadAverage: loadAverage()}
	fmt.Println("load average at start:", rep.LoadAverage)
	var err error
	if rep.Pages, err = measurePages(ctx, c, *sizes, *requests); err != nil {
		return err
	}
	rep.Target = pageInfoTarget(rep.Pages)
	if rep.Deny, err = measureDenyMemory(ctx, c.redisURL, *logouts, *denyTTL); err != nil {
		return err
	}
	fmt.Println("\n| users | page | p50 | p99 | p50 with pageInfo | p99 with pageInfo | p50 with totalCount | p99 with totalCount |\n|---:|---|---:|---:|---:|---:|---:|---:|")
	for _, p := range rep.Pages {
		fmt.Printf("| %d | %s | %s | %s | %s | %s | %s | %s |\n", p.Users, p.Position, ms(p.P50), ms(p.P99),
			ms(p.WithPageInfoP50), ms(p.WithPageInfoP99), ms(p.WithTotalCountP50), ms(p.WithTotalCountP99))
	}
	tg := rep.Target
	fmt.Printf("\ntarget: page p99 with pageInfo at %d users within %.0f× of %d users: %s (worst: %s page, %s vs %s, %.2f×)\n",
		tg.Large, maxPageInfoRatio, tg.Small, metOrMissed(tg.Met), tg.Position, ms(tg.LargeP99), ms(tg.SmallP99), tg.Ratio)
	fmt.Println("load average at end:", loadAverage())
	d := rep.Deny
	fmt.Printf("\nRedis deny list (%s): MEMORY USAGE of a denied access token's key: %d bytes (a session's: %d bytes)\n", d.Redis, d.TokenKeyBytes, d.SessionKeyByte)
	fmt.Printf("  %d logouts (%d keys each): used_memory %s -> %s (+%.0f bytes per logout), %d keys\n",
		d.Logouts, d.KeysPerLogout, mib(d.UsedBefore), mib(d.UsedAfter), float64(d.UsedAfter-d.UsedBefore)/float64(max(1, d.Logouts)), d.KeysAfter)
	fmt.Printf("  after the entries' TTL (%s), %s later: %d keys, used_memory %s\n", d.TTL, d.ExpiredAfter, d.KeysExpired, mib(d.UsedExpired))
	if *out != "" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*out, append(b, '\n'), 0o644); err != nil {
			return err
		}
		fmt.Printf("\nwrote %s\n", *out)
	}
	return nil
}

// pageRounds is how many alternating rounds each page is timed in: the
// tables take turns, so that a busy moment of a shared machine falls on
// every size alike rather than on the one being measured then.
const pageRounds = 10

// scaleTable is one users table of the measurement, with its own
// database and gqlauth.
type scaleTable struct {
	users   int
	db      *benchDB
	child   *child
	pool    *pgxpool.Pool
	client  *gqlClient
	bearer  string
	seeded  time.Duration
	cursors []any  // the after of each position of scalePositions
	cleanup func() // removes the Redis keys of its gqlauth
}

// scalePositions are where the timed pages start: the first page, after
// the middle row, and the last full page.
var scalePositions = []string{"start", "middle", "end"}

// measurePages gives every size its own database and gqlauth, seeds it,
// and times users(first: 20) at the start, the middle and the end of
// each table (edges only, with pageInfo, with totalCount), the tables
// taking turns.
func measurePages(ctx context.Context, c commonFlags, sizes string, requests int) ([]pageTimes, error) {
	rdb, err := redisClient(c.redisURL)
	if err != nil {
		return nil, err
	}
	defer rdb.Close()
	// The admin who lists users, with a cheap hash: only pages are timed.
	hash, err := bcrypt.GenerateFromPassword([]byte(benchPassword), 4)
	if err != nil {
		return nil, err
	}
	var tables []*scaleTable
	defer func() {
		for _, t := range tables {
			t.close()
		}
	}()
	for _, s := range strings.Split(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 100 || (len(tables) > 0 && n < tables[len(tables)-1].users) {
			return nil, fmt.Errorf("-users: %q is not an ascending list of sizes of at least 100", sizes)
		}
		t := &scaleTable{users: n}
		tables = append(tables, t)
		if err := t.open(ctx, c, rdb, hash); err != nil {
			return nil, err
		}
		fmt.Printf("seeded %d users in %s\n", n, t.seeded.Round(time.Millisecond))
	}

	docs := []struct {
		name, doc string
		requests  int
	}{
		{"edges", usersPageDoc, requests},
		{"pageInfo", usersPageWithInfoDoc, requests},
		// A count costs the same at every position: a few suffice.
		{"totalCount", usersPageWithCountDoc, max(pageRounds, requests/40)},
	}
	var out []pageTimes
	for _, t := range tables {
		for i, pos := range scalePositions {
			pt := pageTimes{Users: t.users, Position: pos}
			if i == 0 {
				pt.SeedTime = t.seeded
			}
			out = append(out, pt)
		}
	}
	for pi, pos := range scalePositions {
		for _, d := range docs {
			lat := make([][]time.Duration, len(tables))
			for r := range pageRounds {
				for ti, t := range tables {
					n := d.requests / pageRounds
					if r < d.requests%pageRounds {
						n++
					}
					l, err := timePage(ctx, t.client, d.doc, t.bearer, t.cursors[pi], n)
					if err != nil {
						return nil, fmt.Errorf("users page (%s) at %s of %d: %w", d.name, pos, t.users, err)
					}
					lat[ti] = append(lat[ti], l...)
				}
			}
			for ti := range tables {
				pt := &out[ti*len(scalePositions)+pi]
				r := summarize([]sample{{lat: lat[ti], elapsed: time.Second}})
				switch d.name {
				case "edges":
					pt.Requests, pt.P50, pt.P99 = len(lat[ti]), r.P50, r.P99
				case "pageInfo":
					pt.WithPageInfoRequests, pt.WithPageInfoP50, pt.WithPageInfoP99 = len(lat[ti]), r.P50, r.P99
				default:
					pt.WithTotalCountRequests, pt.WithTotalCountP50, pt.WithTotalCountP99 = len(lat[ti]), r.P50, r.P99
				}
			}
		}
		for ti := range tables {
			pt := out[ti*len(scalePositions)+pi]
			fmt.Printf("  %7d users, %-6s page: p50 %s, p99 %s; with pageInfo: p50 %s, p99 %s; with totalCount: p50 %s, p99 %s\n",
				pt.Users, pt.Position, ms(pt.P50), ms(pt.P99), ms(pt.WithPageInfoP50), ms(pt.WithPageInfoP99), ms(pt.WithTotalCountP50), ms(pt.WithTotalCountP99))
		}
	}
	return out, nil
}

// open creates the table's database, starts its gqlauth, seeds the admin
// and the users, signs the admin in and finds the positions' cursors.
func (t *scaleTable) open(ctx context.Context, c commonFlags, rdb *redis.Client, hash []byte) error {
	var err error
	if t.db, err = createDB(ctx, c.adminURL); err != nil {
		return err
	}
	prefix, cleanup, err := newRedisPrefix(ctx, rdb)
	if err != nil {
		return err
	}
	t.cleanup = cleanup
	if t.child, err = startChild(ctx, c.binary, childEnv(t.db.URL, c.redisURL, prefix, c.bcryptCost), false); err != nil {
		return err
	}
	if t.pool, err = newPool(ctx, t.db.URL, 8); err != nil {
		return err
	}
	if _, err := seedUsers(ctx, t.pool, -1, 0, hash, "ADMIN"); err != nil {
		return err
	}
	start := time.Now()
	if _, err := seedUsers(ctx, t.pool, 0, t.users, hash, "USER"); err != nil {
		return err
	}
	if _, err := t.pool.Exec(ctx, "ANALYZE users"); err != nil {
		return err
	}
	t.seeded = time.Since(start)
	t.client = &gqlClient{http: newHTTPClient(4), url: "http://" + t.child.Addr + "/graphql"}
	var admin struct{ SignIn authPayload }
	if err := t.client.Do(ctx, "", signInBodyFor(benchEmail(-1)), &admin); err != nil {
		return fmt.Errorf("sign in the admin: %w", err)
	}
	t.bearer = admin.SignIn.AccessToken
	total := t.users + 1                                      // with the admin
	for _, offset := range []int{-1, total / 2, total - 21} { // -1: the first page
		var after any
		if offset >= 0 {
			if after, err = cursorAt(ctx, t.pool, offset); err != nil {
				return err
			}
		}
		t.cursors = append(t.cursors, after)
	}
	return nil
}

func (t *scaleTable) close() {
	if t.pool != nil {
		t.pool.Close()
	}
	if t.child != nil {
		t.child.Stop()
	}
	if t.cleanup != nil {
		t.cleanup()
	}
	if t.db != nil {
		if err := t.db.Drop(); err != nil {
			fmt.Fprintln(os.Stderr, "drop bench database:", err)
		}
	}
}

// pageInfoTarget compares the pages with pageInfo at the largest size
// with those at the smallest, position by position, and keeps the worst.
func pageInfoTarget(pages []pageTimes) pageTarget {
	var t pageTarget
	if len(pages) == 0 {
		return t
	}
	t.Small, t.Large = pages[0].Users, pages[len(pages)-1].Users
	small := map[string]time.Duration{}
	for _, p := range pages {
		if p.Users == t.Small {
			small[p.Position] = p.WithPageInfoP99
		}
	}
	for _, p := range pages {
		if p.Users != t.Large || small[p.Position] == 0 {
			continue
		}
		if r := float64(p.WithPageInfoP99) / float64(small[p.Position]); t.Position == "" || r > t.Ratio {
			t.Position, t.SmallP99, t.LargeP99, t.Ratio = p.Position, small[p.Position], p.WithPageInfoP99, r
		}
	}
	t.Met = t.Position != "" && t.Ratio <= maxPageInfoRatio
	return t
}

// loadAverage is /proc/loadavg's first three fields ("" where there is none):
// the machine may be shared, which the timings depend on.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// cursorAt is the users connection's cursor of the row at offset in id
// order (the connection's default order), as gqlauth would hand it out.
func cursorAt(ctx context.Context, pool *pgxpool.Pool, offset int) (string, error) {
	var id uuid.UUID
	if err := pool.QueryRow(ctx, `SELECT id FROM users ORDER BY id OFFSET $1 LIMIT 1`, offset).Scan(&id); err != nil {
		return "", err
	}
	var buf bytes.Buffer
	relay.Cursor[uuid.UUID]{ID: id}.MarshalGQL(&buf)
	return strconv.Unquote(buf.String())
}

// timePage requests one users page n times, 4 at a time (after a few
// requests of warm-up), checking each answer holds 20 users, and returns
// the latencies.
func timePage(ctx context.Context, c *gqlClient, doc, bearer string, after any, n int) ([]time.Duration, error) {
	body := gqlBody(doc, map[string]any{"after": after})
	check := func() error {
		var r struct {
			Users struct {
				Edges []struct{ Cursor string }
			}
		}
		if err := c.Do(ctx, bearer, body, &r); err != nil {
			return err
		}
		if len(r.Users.Edges) != 20 {
			return fmt.Errorf("page of %d users, want 20", len(r.Users.Edges))
		}
		return nil
	}
	for range 2 { // warm up
		if err := check(); err != nil {
			return nil, err
		}
	}
	var (
		mu   sync.Mutex
		lat  []time.Duration
		errs []error
		wg   sync.WaitGroup
		next = make(chan struct{})
	)
	for range 4 {
		wg.Go(func() {
			for range next {
				t0 := time.Now()
				err := check()
				d := time.Since(t0)
				mu.Lock()
				lat = append(lat, d)
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	for range n {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		return nil, errs[0]
	}
	return lat, nil
}

func redisClient(rawURL string) (*redis.Client, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	return redis.NewClient(opts), nil
}

// measureDenyMemory writes the deny entries of n logouts through
// gqlauth's RedisDenyList (a logout denies its session and its access
// token: two keys), measures them, and waits for them to expire. It runs
// its own redis-server on a free port when one is installed, so that
// used_memory is the deny list's alone; else it uses redisURL with a
// prefix of its own and reports MEMORY USAGE only.
func measureDenyMemory(ctx context.Context, redisURL string, n int, ttl time.Duration) (denyMemory, error) {
	d := denyMemory{Logouts: n, KeysPerLogout: 2, TTL: ttl.String()}
	rdb, stop, err := ownRedis(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "no redis-server of our own, using", redisURL, "(used_memory is then shared):", err)
		if rdb, err = redisClient(redisURL); err != nil {
			return d, err
		}
		stop = func() {}
		d.Redis = redisURL
	} else {
		d.Redis = "own redis-server"
	}
	defer stop()
	defer rdb.Close()
	prefix, cleanup, err := newRedisPrefix(ctx, rdb)
	if err != nil {
		return d, err
	}
	defer cleanup()
	deny := token.NewRedisDenyList(rdb, prefix, ttl)
	d.UsedBefore = usedMemory(ctx, rdb)

	var (
		wg       sync.WaitGroup
		firstErr error
		mu       sync.Mutex
		sampleJ  = rand43()
		sampleU  = uuid.Must(uuid.NewV7()).String()
		sampleS  = uuid.Must(uuid.NewV7()).String()
		jobs     = make(chan int)
	)
	start := time.Now()
	for range 32 {
		wg.Go(func() {
			for i := range jobs {
				uid, jti, sid := uuid.Must(uuid.NewV7()).String(), rand43(), uuid.Must(uuid.NewV7()).String()
				if i == 0 {
					uid, jti, sid = sampleU, sampleJ, sampleS
				}
				err := deny.DenySessions(ctx, uid, sid)
				if err == nil {
					err = deny.DenyToken(ctx, uid, jti)
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return d, firstErr
	}
	written := time.Since(start)
	d.UsedAfter = usedMemory(ctx, rdb)
	d.KeysAfter = countKeys(ctx, rdb, prefix)
	d.TokenKeyBytes, _ = rdb.MemoryUsage(ctx, prefix+"deny:v2:{"+sampleU+"}:jti:"+sampleJ).Result()
	d.SessionKeyByte, _ = rdb.MemoryUsage(ctx, prefix+"deny:v2:{"+sampleU+"}:sid:"+sampleS).Result()
	fmt.Printf("wrote %d logouts in %s; waiting for them to expire\n", n, written.Round(time.Millisecond))

	waitStart := time.Now()
	for {
		sleep(ctx, time.Second)
		d.KeysExpired = countKeys(ctx, rdb, prefix)
		if d.KeysExpired == 0 || time.Since(waitStart) > ttl+60*time.Second || ctx.Err() != nil {
			break
		}
	}
	d.ExpiredAfter = time.Since(start).Round(time.Second).String()
	d.UsedExpired = usedMemory(ctx, rdb)
	return d, nil
}

// rand43 is a random string shaped like a jti.
func rand43() string { raw, _ := token.NewRefreshToken(); return raw[:26] }

func usedMemory(ctx context.Context, rdb *redis.Client) int64 {
	info, err := rdb.Info(ctx, "memory").Result()
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "used_memory:"); ok {
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
	}
	return 0
}

// countKeys counts the keys under prefix (SCAN, so that a shared Redis
// is not blocked).
func countKeys(ctx context.Context, rdb *redis.Client, prefix string) int64 {
	var n int64
	iter := rdb.Scan(ctx, 0, prefix+"*", 5000).Iterator()
	for iter.Next(ctx) {
		n++
	}
	return n
}

// ownRedis starts a throwaway redis-server on a free loopback port.
func ownRedis(ctx context.Context) (*redis.Client, func(), error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, nil, err
	}
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", os.TempDir())
	if err := cmd.Start(); err != nil {
		return nil, nil, err
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 32})
	for i := 0; ; i++ {
		if rdb.Ping(ctx).Err() == nil {
			return rdb, stop, nil
		}
		if i > 50 {
			rdb.Close()
			stop()
			return nil, nil, errors.New("own redis-server did not answer")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// metOrMissed is a target's verdict, as make bench prints it.
func metOrMissed(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}
