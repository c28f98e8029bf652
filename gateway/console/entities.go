package console

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"

	"github.com/nomnom-io/nomnom/wire"
)

// Bounds of the entities view: a row count stops at maxCount (the answer
// then says "at least"), and a table's page of rows is at most maxRows.
const (
	maxCount        = 100_000
	defaultRows     = 20
	maxRows         = 100
	maxCellRunes    = 500
	entitiesTimeout = 10 * time.Second
)

// entityTable is one table of GET /ui/api/entities.
type entityTable struct {
	wire.CatalogTable
	Worker string `json:"worker"`
	// Rows is the table's row count, up to maxCount; AtLeast says the
	// table has more.
	Rows    *int64 `json:"rows"`
	AtLeast bool   `json:"at_least"`
	// Problem says why Rows is missing (e.g. the table does not exist yet).
	Problem string `json:"problem,omitempty"`
}

// entities is the answer of GET /ui/api/entities.
type entities struct {
	Tables   []entityTable `json:"tables"`
	Problems []string      `json:"problems"`
}

// entityRows is the answer of GET /ui/api/entities/{table}.
type entityRows struct {
	Table  string   `json:"table"`
	Fields []string `json:"fields"`
	// OrderedBy are the key columns, highest first: "most recent" for the
	// usual ascending keys, read from the key's index.
	OrderedBy []string    `json:"ordered_by"`
	Rows      [][]*string `json:"rows"`
}

func (c *Console) entitiesAllowed(r *http.Request) error {
	if !c.mayReadEntities(r.Context()) {
		return &apiError{http.StatusForbidden, "forbidden", "entity tables hold every tenant's rows; this tenant is not one that may read them (NOMNOM_CONSOLE_ENTITY_TENANTS)"}
	}
	if c.cfg.Database == nil {
		return &apiError{http.StatusNotImplemented, "not_configured", "the entities view needs the gateway's database (DATABASE_URL)"}
	}
	return nil
}

// catalog returns the tables of every valid catalog, and the problems of
// the others.
func (c *Console) catalog(ctx context.Context) ([]entityTable, []string, error) {
	cats, err := wire.ReadCatalogs(ctx, c.cfg.JetStream, c.cfg.Topology)
	problems := []string{}
	if err != nil {
		if cats == nil {
			return nil, nil, err
		}
		c.log.Warn("console catalogs", "err", err)
		problems = append(problems, "some catalogs are invalid and not shown; the gateway log names them")
	}
	var out []entityTable
	seen := map[string]bool{}
	for _, cat := range cats {
		for _, t := range cat.Tables {
			if !seen[t.Table] {
				seen[t.Table] = true
				out = append(out, entityTable{CatalogTable: t, Worker: cat.Worker})
			}
		}
	}
	return out, problems, nil
}

func (c *Console) handleEntities(w http.ResponseWriter, r *http.Request) error {
	if err := c.entitiesAllowed(r); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), entitiesTimeout)
	defer cancel()
	tables, problems, err := c.catalog(ctx)
	if err != nil {
		return err
	}
	for i := range tables {
		t := &tables[i]
		var n int64
		err := c.cfg.Database.QueryRow(ctx, countSQL(t.Table), maxCount+1).Scan(&n)
		switch {
		case isUndefinedTable(err):
			t.Problem = "the table does not exist in the gateway's database"
		case err != nil:
			c.log.Warn("console entity count", "table", t.Table, "err", err)
			t.Problem = "the row count could not be read"
		default:
			t.AtLeast = n > maxCount
			n = min(n, maxCount)
			t.Rows = &n
		}
	}
	if tables == nil {
		tables = []entityTable{}
	}
	writeJSON(w, http.StatusOK, entities{Tables: tables, Problems: problems})
	return nil
}

func (c *Console) handleEntityRows(w http.ResponseWriter, r *http.Request) error {
	if err := c.entitiesAllowed(r); err != nil {
		return err
	}
	limit := defaultRows
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxRows {
			return &apiError{http.StatusBadRequest, "invalid_parameter", fmt.Sprintf("limit: %q is not a whole number from 1 to %d", v, maxRows)}
		}
		limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), entitiesTimeout)
	defer cancel()
	tables, _, err := c.catalog(ctx)
	if err != nil {
		return err
	}
	name := mux.Vars(r)["table"]
	var table *entityTable
	for i := range tables {
		if tables[i].Table == name {
			table = &tables[i]
		}
	}
	if table == nil {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("table %q: no worker's catalog names it", name)}
	}
	rows, err := c.cfg.Database.Query(ctx, rowsSQL(table.CatalogTable), limit)
	if isUndefinedTable(err) {
		return &apiError{http.StatusNotFound, "not_found", fmt.Sprintf("table %q does not exist in the gateway's database", name)}
	}
	if err != nil {
		return err
	}
	defer rows.Close()
	out := entityRows{Table: table.Table, Fields: table.Fields, OrderedBy: table.Keys, Rows: [][]*string{}}
	for rows.Next() {
		cells := make([]*string, len(table.Fields))
		dest := make([]any, len(cells))
		for i := range cells {
			dest[i] = &cells[i]
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		for _, cell := range cells {
			if cell != nil {
				*cell = clip(*cell)
			}
		}
		out.Rows = append(out.Rows, cells)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// quote quotes an identifier the catalog named (already checked to be
// snake_case by wire.Catalog.Validate; quoted all the same).
func quote(name string) string { return pgx.Identifier{name}.Sanitize() }

// countSQL counts the table's rows up to $1, so a large table costs a
// bounded scan.
func countSQL(table string) string {
	return "SELECT count(*) FROM (SELECT 1 FROM " + quote(table) + " LIMIT $1) AS bounded"
}

// rowsSQL reads the table's fields as text, highest keys first, $1 rows.
func rowsSQL(t wire.CatalogTable) string {
	cols := make([]string, len(t.Fields))
	for i, f := range t.Fields {
		cols[i] = quote(f) + "::text"
	}
	keys := make([]string, len(t.Keys))
	for i, k := range t.Keys {
		keys[i] = quote(k) + " DESC"
	}
	return "SELECT " + strings.Join(cols, ", ") + " FROM " + quote(t.Table) +
		" ORDER BY " + strings.Join(keys, ", ") + " LIMIT $1"
}

// clip shortens a long cell, so one large json or text value does not
// swamp the page.
func clip(s string) string {
	if r := []rune(s); len(r) > maxCellRunes {
		return string(r[:maxCellRunes]) + "…"
	}
	return s
}
