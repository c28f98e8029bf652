package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/wire"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Querier runs the console's read-only queries; *pgxpool.Pool satisfies it.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Config is what the console reads and how it authenticates.
type Config struct {
	// JetStream reads the streams, consumers and the catalog bucket (required).
	JetStream jetstream.JetStream
	// Topology names them; it must be the gateway's.
	Topology wire.Topology
	// Database holds message_status and the entity tables (optional:
	// without it the overview has no counts and the entities view is empty).
	Database Querier
	// Authenticate wraps the console's JSON endpoints: the gateway's API
	// key check (required; pass an identity function when keys are off).
	Authenticate func(http.Handler) http.Handler
	// Tenant returns the tenant of an authenticated request, and false when
	// the gateway has no API keys (one deployment-wide view).
	Tenant func(ctx context.Context) (string, bool)
	// EntityTenants may read the entity tables when the gateway has API
	// keys: the tables hold every tenant's rows, so they are closed to the
	// other tenants.
	EntityTenants []string
	// Logger receives the errors the console answers 503 for.
	Logger *slog.Logger
}

// Console serves the web console.
type Console struct {
	cfg   Config
	pages *template.Template
	log   *slog.Logger
}

// page is what a page template renders: only the page's name and the path
// parameter the script needs. Data is fetched by the script.
type page struct {
	Name      string
	Title     string
	MessageID string
}

// New returns the console of cfg.
func New(cfg Config) (*Console, error) {
	switch {
	case cfg.JetStream == nil:
		return nil, errors.New("console: Config.JetStream is nil")
	case cfg.Authenticate == nil || cfg.Tenant == nil:
		return nil, errors.New("console: Config.Authenticate and Config.Tenant are required")
	}
	if err := cfg.Topology.Validate(); err != nil {
		return nil, err
	}
	pages, err := template.ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Console{cfg: cfg, pages: pages, log: log}, nil
}

// Handler serves the console's routes, all under /ui.
func (c *Console) Handler() http.Handler {
	r := mux.NewRouter()
	r.NotFoundHandler = secure(http.NotFoundHandler())
	r.Handle("/ui", http.RedirectHandler("/ui/", http.StatusMovedPermanently)).Methods(http.MethodGet, http.MethodHead)
	for path, p := range map[string]page{
		"/ui/":         {Name: "overview", Title: "Overview"},
		"/ui/messages": {Name: "messages", Title: "Messages"},
		"/ui/dlq":      {Name: "dlq", Title: "Dead letters"},
		"/ui/entities": {Name: "entities", Title: "Entities"},
	} {
		r.Handle(path, c.page(p)).Methods(http.MethodGet, http.MethodHead)
	}
	r.Handle("/ui/messages/{id}", c.page(page{Name: "message", Title: "Message"})).Methods(http.MethodGet, http.MethodHead)
	static, _ := fs.Sub(staticFS, "static")
	r.PathPrefix("/ui/static/").Handler(secure(http.StripPrefix("/ui/static/", http.FileServerFS(static)))).Methods(http.MethodGet, http.MethodHead)
	api := func(h func(http.ResponseWriter, *http.Request) error) http.Handler {
		return secure(c.cfg.Authenticate(c.json(h)))
	}
	r.Handle("/ui/api/overview", api(c.handleOverview)).Methods(http.MethodGet)
	r.Handle("/ui/api/entities", api(c.handleEntities)).Methods(http.MethodGet)
	r.Handle("/ui/api/entities/{table}", api(c.handleEntityRows)).Methods(http.MethodGet)
	return compress(r)
}

// page renders a page's shell; its script fetches the data.
func (c *Console) page(p page) http.Handler {
	return secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := p
		p.MessageID = mux.Vars(r)["id"]
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := c.pages.ExecuteTemplate(w, "layout.html", p); err != nil {
			c.log.Warn("console page", "page", p.Name, "err", err)
		}
	}))
}

// secure sets the headers every console answer carries: the scripts and
// styles are the embedded ones only, nothing is framed or cached.
func secure(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// apiError is a console endpoint's failure, answered as the gateway's error
// body.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.message }

func (c *Console) json(h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := h(w, r)
		if err == nil {
			return
		}
		var e *apiError
		if !errors.As(err, &e) {
			c.log.Warn("console", "path", r.URL.Path, "err", err)
			e = &apiError{http.StatusServiceUnavailable, "unavailable", "the console's data is unavailable; the gateway log says why"}
		}
		var body struct {
			Error struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		body.Error.Code, body.Error.Message = e.code, e.message
		writeJSON(w, e.status, body)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// mayReadEntities reports whether the request's tenant may read entity
// tables, which hold every tenant's rows.
func (c *Console) mayReadEntities(ctx context.Context) bool {
	t, scoped := c.cfg.Tenant(ctx)
	return !scoped || slices.Contains(c.cfg.EntityTenants, t)
}

// isUndefinedTable reports whether err is PostgreSQL's "relation does not
// exist" (a catalog published before its worker migrated).
func isUndefinedTable(err error) bool {
	var pg *pgconn.PgError
	return errors.As(err, &pg) && pg.Code == "42P01"
}
