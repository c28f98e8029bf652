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

// Answers of the health endpoints' "status".
const (
	statusHealthy   = "healthy"
	statusUnhealthy = "unhealthy"
	statusReady     = "ready"
	statusNotReady  = "not_ready"
	statusAlive     = "alive"
)

// healthResponse is the answer of GET /health, /readyz and /ready.
type healthResponse struct {
	Status  string           `json:"status"`
	Service string           `json:"service"`
	Version string           `json:"version"`
	Checks  map[string]check `json:"checks,omitempty"`
}

// check is the state of one dependency. Everything but Status is a detail,
// shown to authenticated callers only.
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

// service is the name the health endpoints answer with.
const service = "nomnom-gateway"

type callerKey struct{}

// withCaller marks in the request's context whether its caller may see
// dependency details: any caller of a gateway without API keys, and a
// caller with a valid key otherwise. Health endpoints never require a key.
func (s *Server) withCaller(ring keyring, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		trusted := len(ring) == 0
		if !trusted {
			_, trusted = ring.lookup(r)
		}
		h(w, r.WithContext(context.WithValue(r.Context(), callerKey{}, trusted)))
	})
}

// redacted returns checks as an unauthenticated caller sees them: the
// status of each dependency, never its error text, address or counts.
func redacted(ctx context.Context, checks map[string]check) map[string]check {
	if trusted, _ := ctx.Value(callerKey{}).(bool); trusted {
		return checks
	}
	out := make(map[string]check, len(checks))
	for name, c := range checks {
		out[name] = check{Status: c.Status}
	}
	return out
}

// handleHealth serves GET /health. It answers 503 "unhealthy" when the
// gateway cannot accept messages: NATS disconnected or the stream not
// reachable. The database only serves status reads of old messages, so its
// state is shown but does not make the gateway unhealthy.
func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	checks, accepting, _ := s.checks(r.Context())
	res := healthResponse{Status: statusHealthy, Service: service, Version: s.cfg.Version, Checks: redacted(r.Context(), checks)}
	status := http.StatusOK
	if !accepting {
		res.Status, status = statusUnhealthy, http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
}

// handleReady serves GET /readyz and /ready: 200 "ready" when NATS, the
// stream and (when configured) PostgreSQL answer, so a load balancer sends
// traffic only to a gateway that can serve every endpoint.
func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) {
	checks, accepting, dbUp := s.checks(r.Context())
	res := healthResponse{Status: statusReady, Service: service, Version: s.cfg.Version, Checks: redacted(r.Context(), checks)}
	status := http.StatusOK
	if !accepting || !dbUp {
		res.Status, status = statusNotReady, http.StatusServiceUnavailable
	}
	writeJSON(w, status, res)
}

// handleLive serves GET /livez: 200 while the process serves HTTP, whatever
// its dependencies, so that an orchestrator restarts only a stuck process.
func (s *Server) handleLive(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, healthResponse{Status: statusAlive, Service: service, Version: s.cfg.Version})
}

// checks runs every dependency check. accepting says whether messages can
// be accepted (NATS and the stream); dbUp is true without a database.
func (s *Server) checks(ctx context.Context) (checks map[string]check, accepting, dbUp bool) {
	checks = map[string]check{"nats": s.checkNATS(), "jetstream": s.checkStream(ctx)}
	accepting = checks["nats"].healthy() && checks["jetstream"].healthy()
	dbUp = true
	if s.cfg.Database != nil {
		checks["database"] = s.checkDatabase(ctx)
		dbUp = checks["database"].healthy()
	}
	return checks, accepting, dbUp
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
