package gateway

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// healthTimeout bounds each check of /health, so a probe answers even when
// a dependency hangs.
const healthTimeout = 2 * time.Second

// healthResponse is the answer of GET /health.
type healthResponse struct {
	Status  string           `json:"status"`
	Service string           `json:"service"`
	Version string           `json:"version"`
	Checks  map[string]check `json:"checks"`
}

// check is the state of one dependency.
type check struct {
	Status   string `json:"status"`
	Error    string `json:"error,omitempty"`
	State    string `json:"state,omitempty"`
	Stream   string `json:"stream,omitempty"`
	Messages uint64 `json:"messages,omitempty"`
}

func up(c check) check        { c.Status = "ok"; return c }
func down(err error) check    { return check{Status: "unavailable", Error: err.Error()} }
func (c check) healthy() bool { return c.Status == "ok" }

// handleHealth serves GET /health. It answers 503 when the gateway cannot
// accept messages: NATS disconnected or the stream not reachable. The
// database only serves status reads of old messages, so its state is shown
// but does not take the gateway out of a load balancer.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	res := healthResponse{Status: "ok", Service: "nomnom-gateway", Version: s.cfg.Version, Checks: map[string]check{}}
	res.Checks["nats"] = s.checkNATS()
	res.Checks["jetstream"] = s.checkStream(r.Context())
	if !res.Checks["nats"].healthy() || !res.Checks["jetstream"].healthy() {
		res.Status = "unavailable"
	}
	if s.cfg.Database != nil {
		res.Checks["database"] = s.checkDatabase(r.Context())
	}
	status := http.StatusOK
	if res.Status != "ok" {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
}

func (s *Server) checkNATS() check {
	state := s.nc.Status().String()
	if !s.nc.IsConnected() {
		return check{Status: "unavailable", State: state, Error: "not connected"}
	}
	return up(check{State: state})
}

func (s *Server) checkStream(ctx context.Context) check {
	if !s.nc.IsConnected() {
		return down(errors.New("NATS is not connected"))
	}
	if s.store.Load() == nil {
		return down(errors.New("stream and bucket not ensured yet"))
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	stream, err := s.js.Stream(ctx, s.cfg.Topology.Stream)
	if err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			s.reensure()
		}
		return down(err)
	}
	return up(check{Stream: s.cfg.Topology.Stream, Messages: stream.CachedInfo().State.Msgs})
}

func (s *Server) checkDatabase(ctx context.Context) check {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := s.cfg.Database.Ping(ctx); err != nil {
		return down(err)
	}
	return up(check{})
}
