package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// ticketsV1 is a second project's entities: tickets with their tags, a
// repeated child that follows its ticket.
const ticketsV1 = `apiVersion: nomnom.io/v1
kind: Entity
metadata: {name: Ticket}
spec:
  type: root
  fields:
    - {name: ticket_id, type: bigint, constraints: {primaryKey: true}}
    - {name: title, type: string}
  persistence: {table: tickets}
---
apiVersion: nomnom.io/v1
kind: Entity
metadata: {name: TicketTag}
spec:
  type: derived
  derivation:
    repeatedFor: {entity: Ticket, field: tags, itemName: tag}
  fields:
    - name: ticket_id
      type: bigint
      source: {copyFrom: {entity: Ticket, field: ticket_id}}
    - {name: tag, type: string, source: {field: tag}}
  persistence:
    table: ticket_tags
    unicity: {fields: [ticket_id, tag]}
`

// ticketsV2 adds a nullable field: an additive change.
var ticketsV2 = strings.Replace(ticketsV1, "    - {name: title, type: string}\n",
	"    - {name: title, type: string}\n    - {name: assignee, type: string, constraints: {nullable: true}}\n", 1)

// feed is a project generated and built during the test, outside nomnom's
// tree: its output folder and its worker binary.
type feed struct {
	dir, bin string
}

// generateFeed runs nomnom generate on entities into dir (keeping what an
// earlier version generated there, as a project's repository does) and
// builds the worker. The code is built inside nomnom's module through an
// overlay (go build -overlay) at import path module, so the build needs no
// module download.
func generateFeed(t *testing.T, dir, entities, module string) feed {
	t.Helper()
	ents := filepath.Join(dir, "entities")
	if err := os.MkdirAll(ents, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ents, "tickets.yaml"), []byte(entities), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	if o, err := exec.Command(bin(t, "nomnom"), "generate", "--entities", ents, "--out", out, "--package", "tickets", "--module", module).CombinedOutput(); err != nil {
		t.Fatalf("nomnom generate: %v\n%s", err, o)
	}
	rel := strings.TrimPrefix(module, "github.com/nomnom-io/nomnom/")
	replace := map[string]string{}
	err := filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		r, _ := filepath.Rel(out, path)
		replace[filepath.Join(repoRoot, rel, r)] = path
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": replace})
	overlayFile := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(overlayFile, overlay, 0o644); err != nil {
		t.Fatal(err)
	}
	binary := filepath.Join(dir, "tickets-worker")
	cmd := exec.Command("go", "build", "-overlay", overlayFile, "-o", binary, "./"+rel+"/cmd/tickets-worker")
	cmd.Dir = repoRoot
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build the generated worker: %v\n%s", err, o)
	}
	return feed{dir: out, bin: binary}
}

// startFeedWorker runs a feed's worker on the stack's stream with the
// feed's own consumer (its package's name, the default).
func (s *stack) startFeedWorker(name, binary string) *workerProc {
	s.t.Helper()
	port := freePort(s.t)
	env := append([]string{
		fmt.Sprintf("METRICS_ADDR=127.0.0.1:%d", port),
		"DATABASE_URL=" + s.dbURL,
	}, s.topo...)
	var kept []string
	for _, e := range env {
		if !strings.HasPrefix(e, "NATS_CONSUMER=") {
			kept = append(kept, e)
		}
	}
	p := startProc(s.t, s.logs, name, binary, kept, "run")
	w := &workerProc{proc: p, metricsURL: fmt.Sprintf("http://127.0.0.1:%d", port)}
	waitHTTP(s.t, name, w.metricsURL+"/healthz", 60*time.Second)
	return w
}

func postTicket(t *testing.T, c *client, body string) string {
	t.Helper()
	a, err := c.do(http.MethodPost, "/ingest/message?entity=Ticket", "application/json", []byte(body))
	if err != nil || a.code != http.StatusAccepted {
		t.Fatalf("POST ticket: %v %s", err, a)
	}
	var acc accepted
	if err := json.Unmarshal(a.body, &acc); err != nil {
		t.Fatal(err)
	}
	return acc.MessageID
}

// TestTwoFeedsAndAnUpgrade runs the tpch worker and a second project's
// worker side by side on one stream, each receiving only its own messages,
// then upgrades the second project: a new field, nomnom generate (which
// writes migration 0002 and leaves 0001 alone), migrate while the old
// worker runs, roll the worker. Old and new rows stay, no message fails,
// and re-sent tickets carry fewer, more and duplicate tags.
func TestTwoFeedsAndAnUpgrade(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	dir := t.TempDir()
	v1 := generateFeed(t, dir, ticketsV1, "github.com/nomnom-io/nomnom/e2e/ticketsv1")
	if out, err := runCmd(t, s.logs, []string{"DATABASE_URL=" + s.dbURL}, v1.bin, "migrate", "up"); err != nil {
		t.Fatalf("tickets v1 migrate up: %v\n%s", err, out)
	}
	worker1 := s.startFeedWorker("tickets-v1", v1.bin)

	// Both feeds at once: orders (sent without entity type, taken by the
	// tpch worker, the first started) and tickets.
	orders := loadOrders(t)[:30]
	var ids []string
	ids = append(ids, postOneByOne(t, s.client, orders)...)
	for i := 1; i <= 20; i++ {
		ids = append(ids, postTicket(t, s.client, fmt.Sprintf(`{"ticket_id":%d,"title":"t%d","tags":["a","b"]}`, i, i)))
	}
	settle(t, "two feeds", s.client, s.dbURL, ids, orders)

	// Generate v2 over v1's output: 0001 stays, 0002 adds the column.
	v2dir := filepath.Join(dir, "v2")
	if err := os.CopyFS(filepath.Join(v2dir, "out"), os.DirFS(v1.dir)); err != nil {
		t.Fatal(err)
	}
	v2 := generateFeed(t, v2dir, ticketsV2, "github.com/nomnom-io/nomnom/e2e/ticketsv2")
	first, _ := os.ReadFile(filepath.Join(v1.dir, "migrations", "0001_tickets_entities.up.sql"))
	again, _ := os.ReadFile(filepath.Join(v2.dir, "migrations", "0001_tickets_entities.up.sql"))
	up, err := os.ReadFile(filepath.Join(v2.dir, "migrations", "0002_tickets_additive.up.sql"))
	if err != nil || string(first) != string(again) || !strings.Contains(string(up), "ALTER TABLE tickets ADD COLUMN assignee text;") {
		t.Fatalf("v2 migrations: 0001 unchanged %v, 0002: %v\n%s", string(first) == string(again), err, up)
	}
	if out, err := runCmd(t, s.logs, []string{"DATABASE_URL=" + s.dbURL}, v2.bin, "migrate", "up"); err != nil {
		t.Fatalf("tickets v2 migrate up: %v\n%s", err, out)
	}
	// The v1 worker keeps working on the migrated table.
	mid := []string{postTicket(t, s.client, `{"ticket_id":21,"title":"during the roll","tags":["a"]}`)}
	settle(t, "v1 after migrate", s.client, s.dbURL, mid, nil)

	worker1.Term()
	if err := worker1.Wait(time.Minute); err != nil {
		t.Logf("tickets v1 worker exit: %v", err)
	}
	s.startFeedWorker("tickets-v2", v2.bin)
	var later []string
	later = append(later, postTicket(t, s.client, `{"ticket_id":22,"title":"new","assignee":"ann","tags":["x"]}`))
	later = append(later, postTicket(t, s.client, `{"ticket_id":1,"title":"t1 again","assignee":"bob","tags":["a"]}`))
	settle(t, "v2", s.client, s.dbURL, later, nil)
	for _, step := range []struct {
		body string
		tags []string
	}{
		{`{"ticket_id":2,"title":"more","tags":["a","b","c"]}`, []string{"a", "b", "c"}},
		{`{"ticket_id":2,"title":"fewer","tags":["c"]}`, []string{"c"}},
		{`{"ticket_id":2,"title":"duplicate","tags":["d","d"]}`, []string{"d"}},
	} {
		id := postTicket(t, s.client, step.body)
		recs := settle(t, "re-sent ticket", s.client, s.dbURL, []string{id}, nil)
		if got := recs[id].Entities["ticket_tags"]; got != len(step.tags) {
			t.Errorf("%s: reported %d tags, want %d", step.body, got, len(step.tags))
		}
		if got := ticketTags(t, s.dbURL, 2); !slices.Equal(got, step.tags) {
			t.Errorf("%s: ticket 2 has tags %v, want %v", step.body, got, step.tags)
		}
	}

	var n, assigned int
	var assignee1 string
	queryRow(t, s.dbURL, "SELECT count(*), count(assignee) FROM tickets", &n, &assigned)
	queryRow(t, s.dbURL, "SELECT assignee FROM tickets WHERE ticket_id = 1", &assignee1)
	if n != 22 || assigned != 2 || assignee1 != "bob" {
		t.Errorf("tickets: %d rows (want 22), %d assigned (want 2), ticket 1 assignee %q", n, assigned, assignee1)
	}
	if got := ticketTags(t, s.dbURL, 3); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("ticket 3 (sent once, under v1) has tags %v", got)
	}
	if got := ticketTags(t, s.dbURL, 1); !slices.Equal(got, []string{"a"}) {
		t.Errorf("ticket 1 re-sent with one tag has %v", got)
	}
	var failed int
	queryRow(t, s.dbURL, "SELECT count(*) FROM message_status WHERE status <> 'completed'", &failed)
	if failed != 0 {
		t.Errorf("%d messages not completed in message_status", failed)
	}
}

func ticketTags(t *testing.T, dbURL string, ticket int) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT tag FROM ticket_tags WHERE ticket_id = $1 ORDER BY tag", ticket)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return tags
}

func queryRow(t *testing.T, dbURL, sql string, dest ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if err := conn.QueryRow(ctx, sql).Scan(dest...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
