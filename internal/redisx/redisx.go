// Package redisx connects to Redis as the configuration says: one node
// (REDIS_URL, redis:// or rediss:// for TLS), a Redis Cluster
// (REDIS_CLUSTER_ADDRS) or a master watched by Sentinel
// (REDIS_SENTINEL_ADDRS and REDIS_SENTINEL_MASTER), always as a
// redis.UniversalClient, so that nothing else knows which.
package redisx

import (
	"crypto/tls"
	"fmt"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Settings are the REDIS_* variables of internal/config.
type Settings struct {
	// URL is one node: redis://[user:password@]host:port/db, or rediss://
	// for TLS. Its query parameters (dial_timeout, …) are go-redis's.
	URL string
	// ClusterAddrs are seed nodes of a Redis Cluster (host:port).
	ClusterAddrs []string
	// SentinelAddrs are the sentinels (host:port) that watch the master
	// named SentinelMaster.
	SentinelAddrs  []string
	SentinelMaster string
	// SentinelPassword authenticates to the sentinels themselves, when
	// they require it (their requirepass).
	SentinelPassword string
	// Username and Password authenticate to the data nodes (Redis ACLs);
	// they override the URL's.
	Username, Password string
	// TLS, for the cluster and sentinel modes (REDIS_URL says it with
	// rediss://).
	TLS bool
}

// Configured reports whether any Redis is configured.
func (s Settings) Configured() bool {
	return s.URL != "" || len(s.ClusterAddrs) > 0 || len(s.SentinelAddrs) > 0
}

// Check reports a setting that cannot work, naming its variable.
func (s Settings) Check() error {
	switch {
	case len(s.ClusterAddrs) > 0 && (s.URL != "" || len(s.SentinelAddrs) > 0):
		return fmt.Errorf("REDIS_CLUSTER_ADDRS: set only one of REDIS_URL, REDIS_CLUSTER_ADDRS and REDIS_SENTINEL_ADDRS")
	case len(s.SentinelAddrs) > 0 && s.URL != "":
		return fmt.Errorf("REDIS_SENTINEL_ADDRS: set only one of REDIS_URL, REDIS_CLUSTER_ADDRS and REDIS_SENTINEL_ADDRS")
	case len(s.SentinelAddrs) > 0 && s.SentinelMaster == "":
		return fmt.Errorf("REDIS_SENTINEL_MASTER: required with REDIS_SENTINEL_ADDRS")
	case len(s.SentinelAddrs) == 0 && s.SentinelMaster != "":
		return fmt.Errorf("REDIS_SENTINEL_MASTER: needs REDIS_SENTINEL_ADDRS")
	case s.URL != "":
		if _, err := redis.ParseURL(s.URL); err != nil {
			return fmt.Errorf("REDIS_URL: %v", err)
		}
	}
	return nil
}

// failFast bounds every command: each authenticated request waits on
// Redis, so when it is down the answer is SERVICE_UNAVAILABLE within about
// a second rather than after go-redis's default retries. Values set in
// REDIS_URL's query win.
func failFast(dial, read, write *time.Duration, retries *int) {
	for _, d := range []*time.Duration{dial, read, write} {
		if *d == 0 {
			*d = time.Second
		}
	}
	if *retries == 0 {
		*retries = 1
	}
}

// smallBuffers sizes a client's connection buffers for gqlauth's
// commands, which are a few keys each way (a deny-list MGET, a limiter
// script, a challenge): 4 KiB, and 16 KiB for pipelines (the deny-list
// rebuild). go-redis's defaults, 32 KiB and 128 KiB each way, made its
// pools the largest part of the heap under load; a longer reply is
// still read whole, through more reads. Only the pipeline sizes can be
// set (REDIS_URL's pipeline_read_buffer_size and
// pipeline_write_buffer_size, which this keeps); go-redis reads no other
// buffer size from a URL.
func smallBuffers(read, write, pipelineRead, pipelineWrite *int) {
	for p, size := range map[*int]int{read: 4 << 10, write: 4 << 10, pipelineRead: 16 << 10, pipelineWrite: 16 << 10} {
		if *p == 0 {
			*p = size
		}
	}
}

// New returns the client s describes, or nil when none is configured.
func New(s Settings) (redis.UniversalClient, error) {
	s.ClusterAddrs, s.SentinelAddrs = trimAddrs(s.ClusterAddrs), trimAddrs(s.SentinelAddrs)
	if err := s.Check(); err != nil {
		return nil, err
	}
	var tlsConfig *tls.Config
	if s.TLS {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	switch {
	case s.URL != "":
		opts, err := redis.ParseURL(s.URL)
		if err != nil {
			return nil, fmt.Errorf("REDIS_URL: %v", err)
		}
		if s.Username != "" {
			opts.Username = s.Username
		}
		if s.Password != "" {
			opts.Password = s.Password
		}
		failFast(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.MaxRetries)
		smallBuffers(&opts.ReadBufferSize, &opts.WriteBufferSize, &opts.PipelineReadBufferSize, &opts.PipelineWriteBufferSize)
		return redis.NewClient(opts), nil
	case len(s.ClusterAddrs) > 0:
		opts := &redis.ClusterOptions{Addrs: s.ClusterAddrs, Username: s.Username, Password: s.Password, TLSConfig: tlsConfig}
		failFast(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.MaxRetries)
		smallBuffers(&opts.ReadBufferSize, &opts.WriteBufferSize, &opts.PipelineReadBufferSize, &opts.PipelineWriteBufferSize)
		// A MOVED or a failover needs a few redirects to settle.
		opts.MaxRedirects = 3
		return redis.NewClusterClient(opts), nil
	case len(s.SentinelAddrs) > 0:
		opts := &redis.FailoverOptions{
			MasterName: s.SentinelMaster, SentinelAddrs: s.SentinelAddrs, SentinelPassword: s.SentinelPassword,
			Username: s.Username, Password: s.Password, TLSConfig: tlsConfig,
		}
		failFast(&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.MaxRetries)
		smallBuffers(&opts.ReadBufferSize, &opts.WriteBufferSize, &opts.PipelineReadBufferSize, &opts.PipelineWriteBufferSize)
		return redis.NewFailoverClient(opts), nil
	}
	return nil, nil
}

// trimAddrs drops the blanks around and between comma-separated host:port.
func trimAddrs(list []string) []string {
	var out []string
	for _, a := range list {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}
