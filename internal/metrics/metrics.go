// Package metrics holds gqlauth's Prometheus metrics. Each App has its own
// registry (tests start many Apps in one process). The services never see
// Prometheus types: they call the small interfaces they define themselves
// (auth.Recorder, token.LookupObserver), which *Metrics implements.
package metrics

import (
	"database/sql"
	"net/http"
	"regexp"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace starts every metric name gqlauth exports.
const namespace = "gqlauth"

// maxOperationNames bounds the operation label: clients choose operation
// names, and every new name is a new time series. Past this many distinct
// names, further ones are counted as "other". Only operations that were
// executed take a slot; documents refused before execution are counted
// as "invalid", so that junk sent at start-up cannot fill the slots.
const maxOperationNames = 200

// Metrics is gqlauth's set of metrics and the registry that serves them.
type Metrics struct {
	registry *prometheus.Registry

	graphqlRequests *prometheus.CounterVec
	graphqlDuration *prometheus.HistogramVec
	signIns         *prometheus.CounterVec
	refreshes       *prometheus.CounterVec
	reuseDetections prometheus.Counter
	denyLookups     *prometheus.CounterVec
	webhooks        *prometheus.CounterVec
	webhookAge      prometheus.Gauge
	liveStreams     prometheus.Gauge

	mu         sync.Mutex
	operations map[string]struct{}
}

// New returns the metrics of one gqlauth, with Go runtime and process
// metrics and, when db is not nil, the statistics of its connection pool.
func New(db *sql.DB) *Metrics {
	m := &Metrics{
		registry:   prometheus.NewRegistry(),
		operations: make(map[string]struct{}),
		graphqlRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "graphql_requests_total",
			Help:      "GraphQL requests by operation name and outcome code (OK or the first error's extensions.code).",
		}, []string{"operation", "code"}),
		graphqlDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "graphql_request_duration_seconds",
			Help:      "Time to answer a GraphQL request, by operation name.",
			Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "sign_ins_total",
			Help:      "Sign-in attempts by result: success, failure (wrong credentials), invalid (bad input), throttled or error.",
		}, []string{"result"}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "refreshes_total",
			Help:      "Refresh-token rotations by result: rotated, reuse_detected, rejected or error.",
		}, []string{"result"}),
		reuseDetections: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "refresh_reuse_detections_total",
			Help:      "Replays of a rotated refresh token outside the grace window; each revoked a session.",
		}),
		denyLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "deny_list_lookups_total",
			Help:      "Access-token deny-list lookups by result: allowed, denied or error (the request then fails closed).",
		}, []string{"result"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "webhook_deliveries_total",
			Help:      "Webhook delivery attempts by result: delivered, retried (will be tried again) or failed (gave up).",
		}, []string{"result"}),
		webhookAge: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "webhook_queue_age_seconds",
			Help:      "How long the oldest undelivered webhook has waited; 0 when none waits.",
		}),
		liveStreams: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace,
			Name:      "live_session_streams",
			Help:      "Open live session-event streams (SSE) on this instance.",
		}),
	}
	m.registry.MustRegister(
		m.graphqlRequests, m.graphqlDuration, m.signIns, m.refreshes, m.reuseDetections, m.denyLookups,
		m.webhooks, m.webhookAge, m.liveStreams,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if db != nil {
		m.registry.MustRegister(collectors.NewDBStatsCollector(db, namespace))
	}
	// Results known in advance start at zero, so that rate() and alerts
	// see them before the first event.
	for _, r := range []string{"success", "failure", "invalid", "throttled", "error"} {
		m.signIns.WithLabelValues(r)
	}
	for _, r := range []string{"rotated", "reuse_detected", "rejected", "error"} {
		m.refreshes.WithLabelValues(r)
	}
	for _, r := range []string{"allowed", "denied", "error"} {
		m.denyLookups.WithLabelValues(r)
	}
	for _, r := range []string{"delivered", "retried", "failed"} {
		m.webhooks.WithLabelValues(r)
	}
	return m
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry is the registry the metrics are in, for tests that read them.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// operationName matches the operation names used as label values as
// they are; others are reported as "other".
var operationName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)

// operationLabel bounds the cardinality of the operation label.
func (m *Metrics) operationLabel(name string, validated bool) string {
	switch {
	case !validated:
		return "invalid"
	case name == "":
		return "anonymous"
	case !operationName.MatchString(name):
		return "other"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.operations[name]; ok {
		return name
	}
	if len(m.operations) >= maxOperationNames {
		return "other"
	}
	m.operations[name] = struct{}{}
	return name
}

// GraphQLRequest records one answered GraphQL request: its operation name
// ("" for anonymous ones), whether it was validated (parsed, valid,
// within every limit, and so executed: only then is its name used as a
// label), its outcome code and how long it took.
func (m *Metrics) GraphQLRequest(operation string, validated bool, code string, took time.Duration) {
	op := m.operationLabel(operation, validated)
	m.graphqlRequests.WithLabelValues(op, code).Inc()
	m.graphqlDuration.WithLabelValues(op).Observe(took.Seconds())
}

// SignIn records a sign-in attempt (implements auth.Recorder).
func (m *Metrics) SignIn(result string) { m.signIns.WithLabelValues(result).Inc() }

// Refresh records a refresh attempt (implements auth.Recorder). A
// reuse_detected result also counts in refresh_reuse_detections_total.
func (m *Metrics) Refresh(result string) {
	m.refreshes.WithLabelValues(result).Inc()
	if result == "reuse_detected" {
		m.reuseDetections.Inc()
	}
}

// DenyListLookup records one deny-list lookup (implements token.LookupObserver).
func (m *Metrics) DenyListLookup(denied bool, err error) {
	switch {
	case err != nil:
		m.denyLookups.WithLabelValues("error").Inc()
	case denied:
		m.denyLookups.WithLabelValues("denied").Inc()
	default:
		m.denyLookups.WithLabelValues("allowed").Inc()
	}
}

// WebhookDelivery records one webhook attempt (implements webhook.Recorder).
func (m *Metrics) WebhookDelivery(result string) { m.webhooks.WithLabelValues(result).Inc() }

// WebhookQueueAge records the age of the oldest undelivered webhook
// (implements webhook.Recorder).
func (m *Metrics) WebhookQueueAge(d time.Duration) { m.webhookAge.Set(d.Seconds()) }

// LiveStreams records how many live session-event streams are open
// (implements live.Recorder).
func (m *Metrics) LiveStreams(n int) { m.liveStreams.Set(float64(n)) }
