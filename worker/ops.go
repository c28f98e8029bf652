package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// lagInterval is how often the consumer's backlog is read for the lag gauge.
const lagInterval = 10 * time.Second

// metrics are the worker's Prometheus series.
type metrics struct {
	batches       prometheus.Counter
	messages      *prometheus.CounterVec
	batchDuration prometheus.Histogram
	latency       prometheus.Histogram
	redeliveries  prometheus.Counter
	pending       prometheus.Gauge
	ackPending    prometheus.Gauge
	kvErrors      prometheus.Counter
	paused        prometheus.Gauge
	// environmentErrors counts the attempts a broken environment held
	// back, by SQLSTATE ("connection" when PostgreSQL did not answer).
	environmentErrors *prometheus.CounterVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nomnom_worker_batches_total", Help: "Batches settled.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nomnom_worker_messages_total",
			Help: "Messages settled, by outcome: completed, duplicate (already completed, acknowledged only), retrying, failed (dead-lettered).",
		}, []string{"outcome"}),
		batchDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nomnom_worker_batch_duration_seconds", Help: "Time from fetch to the last acknowledgement of a batch.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "nomnom_worker_message_latency_seconds", Help: "Time from a message's receipt by the gateway to the commit of its rows.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 18),
		}),
		redeliveries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nomnom_worker_redeliveries_total", Help: "Messages fetched that JetStream had delivered before.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nomnom_worker_consumer_pending_messages", Help: "Messages in the stream not yet delivered to the consumer (its lag).",
		}),
		ackPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nomnom_worker_consumer_ack_pending_messages", Help: "Messages delivered and not yet acknowledged.",
		}),
		kvErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "nomnom_worker_kv_write_errors_total", Help: "Status updates that could not be written to the KV bucket.",
		}),
		paused: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "nomnom_worker_paused", Help: "1 while the worker holds its batch because the environment is broken (schema, privilege, read-only, unreachable).",
		}),
		environmentErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "nomnom_worker_environment_errors_total", Help: "Attempts to settle a batch that a broken environment held back, by SQLSTATE.",
		}, []string{"sqlstate"}),
	}
	reg.MustRegister(m.batches, m.messages, m.batchDuration, m.latency, m.redeliveries, m.pending, m.ackPending, m.kvErrors, m.paused, m.environmentErrors)
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		// A shared registry may have them already.
		if err := reg.Register(c); err != nil && !errors.As(err, &prometheus.AlreadyRegisteredError{}) {
			panic(err)
		}
	}
	return m
}

// pollLag updates the lag gauges until Stop.
func (w *Worker) pollLag() {
	defer w.bgDone.Done()
	t := time.NewTicker(lagInterval)
	defer t.Stop()
	for {
		ctx, cancel := context.WithTimeout(w.work, 5*time.Second)
		info, err := w.consumer.Info(ctx)
		cancel()
		if err == nil {
			w.metrics.pending.Set(float64(info.NumPending))
			w.metrics.ackPending.Set(float64(info.NumAckPending))
		}
		select {
		case <-t.C:
		case <-w.life.Context().Done():
			return
		}
	}
}

// Health reports why the worker cannot work right now: NATS disconnected,
// PostgreSQL unreachable, paused on a broken environment (what is wrong),
// held by Hold (its reason), or stalled (see Live). nil means healthy.
func (w *Worker) Health(ctx context.Context) error {
	if err := w.Live(); err != nil {
		return err
	}
	if s := w.nc.Status(); s != nats.CONNECTED {
		return fmt.Errorf("nats: %s", s)
	}
	if problem := w.health.pausedBy(); problem != "" {
		return fmt.Errorf("paused: %s", problem)
	}
	if reason := w.health.heldBy(); reason != "" {
		return fmt.Errorf("held: %s", reason)
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := w.pool.Ping(ctx); err != nil {
		return errors.New("postgres: unreachable")
	}
	return nil
}

// OpsHandler serves /livez (200 while the process needs no restart, see
// Live), /readyz and /healthz (200 "ok", or 503 with the reason, see
// Health) and /metrics (the worker's registry in the Prometheus format).
func (w *Worker) OpsHandler() http.Handler {
	mux := http.NewServeMux()
	check := func(probe func(context.Context) error) http.HandlerFunc {
		return func(rw http.ResponseWriter, r *http.Request) {
			rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
			if err := probe(r.Context()); err != nil {
				rw.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(rw, err)
				return
			}
			fmt.Fprintln(rw, "ok")
		}
	}
	mux.HandleFunc("/livez", check(func(context.Context) error { return w.Live() }))
	mux.HandleFunc("/readyz", check(w.Health))
	mux.HandleFunc("/healthz", check(w.Health))
	mux.Handle("/metrics", promhttp.HandlerFor(w.cfg.Registry, promhttp.HandlerOpts{Registry: w.cfg.Registry}))
	return mux
}
