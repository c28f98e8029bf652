package gateway

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// metrics are the gateway's Prometheus series, registered on the Server's
// own registry.
type metrics struct {
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	inFlight      prometheus.Gauge
	accepted      prometheus.Counter
	duplicates    prometheus.Counter
	publishErrors prometheus.Counter
	statusErrors  prometheus.Counter
	rejected      prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nomnom_gateway_requests_total",
			Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "nomnom_gateway_request_duration_seconds",
			Help:    "HTTP request latency by route.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"route"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nomnom_gateway_in_flight_requests",
			Help: "HTTP requests being served.",
		}),
		accepted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nomnom_gateway_messages_accepted_total",
			Help: "Messages acknowledged by JetStream and answered as accepted.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nomnom_gateway_messages_duplicate_total",
			Help: "Messages answered as duplicates of an earlier idempotency key.",
		}),
		publishErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nomnom_gateway_publish_errors_total",
			Help: "Messages JetStream did not acknowledge.",
		}),
		statusErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nomnom_gateway_status_write_errors_total",
			Help: "Accepted records that could not be written to KV (the message itself is durable).",
		}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nomnom_gateway_backpressure_rejections_total",
			Help: "Requests answered 429 because too many publishes were in flight.",
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.inFlight, m.accepted, m.duplicates, m.publishErrors, m.statusErrors, m.rejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// instrument counts and times every request of one route. The route's
// series are looked up once, not per request: a label lookup hashes its
// values and takes the vector's lock.
func (m *metrics) instrument(route string, next http.Handler) http.Handler {
	latency := m.latency.WithLabelValues(route)
	var byCode sync.Map // status code → prometheus.Counter
	count := func(status int) {
		c, ok := byCode.Load(status)
		if !ok {
			c, _ = byCode.LoadOrStore(status, m.requests.WithLabelValues(route, strconv.Itoa(status)))
		}
		c.(prometheus.Counter).Inc()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		count(rec.status)
		latency.Observe(time.Since(start).Seconds())
	})
}

// statusRecorder remembers the status a handler answered.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func metricsHandler(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
