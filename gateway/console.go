package gateway

import (
	"net/http"

	"github.com/gorilla/mux"
)

// consoleRoutes adds the console and operations endpoints: search, message
// detail, live events, redrive and the OpenAPI document.
func (s *Server) consoleRoutes(r *mux.Router, keys keyring) {
	m := s.metrics
	r.Handle("/ingest/messages", m.instrument("search", keys.authenticate(s.serve(s.handleSearch)))).Methods(http.MethodGet)
	r.Handle("/ingest/messages/{id}", m.instrument("detail", keys.authenticate(s.serve(s.handleDetail)))).Methods(http.MethodGet)
	r.Handle("/ingest/dlq/redrive", m.instrument("redrive", keys.authenticate(s.serve(s.handleRedrive)))).Methods(http.MethodPost)
	r.Handle("/openapi.json", m.instrument("openapi", http.HandlerFunc(handleOpenAPI))).Methods(http.MethodGet)
	r.Handle("/ingest/events", m.instrument("events", keys.authenticate(s.serve(s.handleEvents)))).Methods(http.MethodGet)
}
