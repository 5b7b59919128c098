package deliver

import (
	"strconv"

	"github.com/lobby-dev/lobby"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts webhook attempts by outcome and times them.
type Metrics struct {
	attempts *prometheus.CounterVec
	latency  prometheus.Histogram
}

// NewMetrics registers the delivery metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lobby_webhook_attempts_total",
			Help: "Webhook delivery attempts by outcome: delivered, retry, failed, gone, refused (no POST made); and the status class.",
		}, []string{"outcome", "status"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "lobby_webhook_attempt_duration_seconds",
			Help:    "Time from a webhook POST to its answer, or to its failure.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15},
		}),
	}
	reg.MustRegister(m.attempts, m.latency)
	return m
}

// observe counts one attempt; a nil Metrics counts nothing.
func (m *Metrics) observe(r *lobby.AttemptResult, posted bool) {
	if m == nil {
		return
	}
	outcome := "retry"
	switch {
	case !posted:
		outcome = "refused"
	case r.Delivered:
		outcome = "delivered"
	case r.Gone:
		outcome = "gone"
	case r.RetryAt.IsZero():
		outcome = "failed"
	}
	status := "none"
	if r.Attempt.StatusCode > 0 {
		status = strconv.Itoa(r.Attempt.StatusCode/100) + "xx"
	}
	m.attempts.WithLabelValues(outcome, status).Inc()
	if posted {
		m.latency.Observe(float64(r.Attempt.LatencyMS) / 1000)
	}
}
