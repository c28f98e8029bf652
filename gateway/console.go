package gateway

import (
	"context"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/nomnom-io/nomnom/gateway/console"
)

// consoleRoutes adds the console and operations endpoints: search, message
// detail, live events, redrive and the OpenAPI document.
func (s *Server) consoleRoutes(r *mux.Router, keys keyring) {
	m := s.metrics
	r.Handle("/ingest/messages", m.instrument("search", keys.authenticate(s.serve(s.handleSearch)))).Methods(http.MethodGet)
	r.Handle("/ingest/messages/{id}", m.instrument("detail", keys.authenticate(s.serve(s.handleDetail)))).Methods(http.MethodGet)
	r.Handle("/ingest/replay", m.instrument("replay", keys.authenticate(s.serve(s.handleReplay)))).Methods(http.MethodPost)
	r.Handle("/ingest/dlq/redrive", m.instrument("redrive", keys.authenticate(s.serve(s.handleRedrive)))).Methods(http.MethodPost)
	r.Handle("/openapi.json", m.instrument("openapi", http.HandlerFunc(handleOpenAPI))).Methods(http.MethodGet)
	r.Handle("/ingest/events", m.instrument("events", keys.authenticate(s.serve(s.handleEvents)))).Methods(http.MethodGet)
	ui := m.instrument("console", s.console.Handler())
	for _, path := range []string{"/ui/api/overview", "/ui/api/entities", "/ui/api/entities/{table}"} {
		r.Handle(path, ui).Methods(http.MethodGet) // the console's JSON, in openapi.json
	}
	r.PathPrefix("/ui").Handler(ui) // its pages and static files

}

// newConsole returns the web console at /ui/, authenticated and
// tenant-scoped with the API's keys.
func (s *Server) newConsole() (*console.Console, error) {
	keys := newKeyring(s.cfg.APIKeys)
	return console.New(console.Config{
		JetStream:     s.js,
		Topology:      s.cfg.Topology,
		Database:      s.cfg.ConsoleDatabase,
		Authenticate:  keys.authenticate,
		Tenant:        func(ctx context.Context) (string, bool) { return tenantOf(ctx), len(s.cfg.APIKeys) > 0 },
		EntityTenants: s.cfg.EntityTenants,
		Logger:        s.log,
	})
}
