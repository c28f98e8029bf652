package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The scenarios of this file are what a hostile client, or a stuck peer,
// does to a deployment: each runs against real processes and asserts that
// the platform keeps ingesting and that every accepted message ends.

// TestHostileLongNames sends entity types far longer than NATS's control
// line: they are refused with 400 naming the field, and the gateway still
// ingests on its connection afterwards.
func TestHostileLongNames(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	long := strings.Repeat("A", 5000)
	for _, tc := range []struct{ path, header, field string }{
		{path: "/ingest/message?entity=" + long, field: "?entity="},
		{path: "/ingest/message", header: long, field: "X-Entity-Type"},
	} {
		req, err := http.NewRequest(http.MethodPost, s.gateway.url+tc.path, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if tc.header != "" {
			req.Header.Set("X-Entity-Type", tc.header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), tc.field) {
			t.Fatalf("long name in %s: %d %s, want 400 naming it", tc.field, resp.StatusCode, body)
		}
	}
	orders := loadOrders(t)[:20]
	ids := postOneByOne(t, s.client, orders)
	settle(t, "long names", s.client, s.dbURL, ids, orders)
}

// TestHostileNearLimitBodies posts bodies around the largest the gateway
// accepts on a server with the default max_payload (1 MiB): each is 413
// stating the limit, or accepted and then failed (they are no entity), with
// the status API and message_status agreeing. None is 503.
func TestHostileNearLimitBodies(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	var failed []string
	for _, size := range []int{1_040_000, 1_040_384, 1_040_385, 1_048_000, 1_048_576} {
		body := []byte(`{"pad":"` + strings.Repeat("x", size-10) + `"}`)
		a, err := s.client.post(body)
		if err != nil {
			t.Fatal(err)
		}
		switch a.code {
		case http.StatusAccepted:
			var res struct {
				MessageID string `json:"message_id"`
			}
			if err := json.Unmarshal(a.body, &res); err != nil {
				t.Fatal(err)
			}
			failed = append(failed, res.MessageID)
		case http.StatusRequestEntityTooLarge:
			if !strings.Contains(string(a.body), "the limit") {
				t.Errorf("%d bytes: 413 without the limit: %s", size, a.body)
			}
		default:
			t.Fatalf("%d bytes: %s, want 202 or 413", size, a)
		}
		t.Logf("e2e: near-limit body of %d bytes: %d", size, a.code)
	}
	if len(failed) == 0 {
		t.Fatal("no near-limit body was accepted; the limit is not where max_payload puts it")
	}
	recs := s.client.awaitTerminal(t, failed, completionDeadline)
	counts := statusCounts(t, s.dbURL, failed)
	for _, id := range failed {
		if recs[id].Status != "failed" {
			t.Errorf("%s: status API says %q, want failed", id, recs[id].Status)
		}
	}
	if counts["failed"] != len(failed) {
		t.Errorf("message_status has %v for the %d accepted bodies, want all failed", counts, len(failed))
	}
	if dl := s.deadLetters(); len(dl) != len(failed) {
		t.Errorf("%d dead letters, want %d", len(dl), len(failed))
	}
}

// rssBytes reads a process's resident set size from /proc.
func rssBytes(t testing.TB, pid int) int64 {
	t.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("rss of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("rss of %d: no VmRSS line", pid)
	return 0
}

// TestHostileSlowAnnouncements opens 40 connections that each announce a
// 16 MiB batch and send one byte: the gateway's memory stays small and a
// normal message is still answered.
func TestHostileSlowAnnouncements(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{})
	addr := strings.TrimPrefix(s.gateway.url, "http://")
	pid := s.gateway.cmd.Process.Pid
	before := rssBytes(t, pid)
	for range 40 {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		fmt.Fprintf(conn, "POST /ingest/batch HTTP/1.1\r\nHost: gw\r\nContent-Type: application/x-ndjson\r\nContent-Length: %d\r\n\r\n{", 16<<20)
	}
	time.Sleep(2 * time.Second) // let the gateway start on every body
	orders := loadOrders(t)[:1]
	done := make(chan string, 1)
	go func() {
		a, err := s.client.post(orders[0].raw)
		done <- fmt.Sprintf("%s %v", a, err)
	}()
	select {
	case got := <-done:
		if !strings.HasPrefix(got, "202 ") {
			t.Fatalf("a normal POST beside the slow bodies: %s", got)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("a normal POST beside the slow bodies was not answered")
	}
	after := rssBytes(t, pid)
	t.Logf("e2e: slow announcements: gateway RSS %d MB before, %d MB with 40 bodies of 16 MiB announced", before>>20, after>>20)
	if after > 150<<20 {
		t.Fatalf("gateway RSS %d MB with 40 slow announcements, want under 150 MB", after>>20)
	}
}

// TestHostileFrozenWorker freezes one of two workers (SIGSTOP: a paused VM,
// a partition) while it holds a batch: its session's
// idle_in_transaction_session_timeout releases its rows, the other
// worker's lock_timeout keeps it from waiting on them for ever, and the
// other worker finishes the whole backlog alone.
func TestHostileFrozenWorker(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{workers: -1, workerEnv: []string{
		"NOMNOM_BATCH_SIZE=50", "NOMNOM_ACK_WAIT=5s", "NOMNOM_MAX_ATTEMPTS=20",
		"NOMNOM_LOCK_TIMEOUT=1s", "NOMNOM_IDLE_IN_TRANSACTION_TIMEOUT=10s",
	}})
	orders := manyOrders(t, 4000)
	ids := postBatches(t, s.client, orders, 500)
	frozen := s.startWorker()
	waitFor(t, "the first worker to be under way", completionDeadline, func() bool {
		return statusCounts(t, s.dbURL, ids)["completed"] > 0
	})
	frozen.Signal(syscall.SIGSTOP)
	t.Cleanup(func() { frozen.Signal(syscall.SIGCONT) })
	t.Logf("e2e: frozen worker: frozen after %d completed", statusCounts(t, s.dbURL, ids)["completed"])
	s.startWorker()
	settle(t, "frozen worker", s.client, s.dbURL, ids, orders)
}

// TestHostileWorkerBeforeMigrations starts the worker on an empty
// database: it consumes and dead-letters nothing, says on /readyz that the
// schema is missing, and completes every message once the migrations are
// applied.
func TestHostileWorkerBeforeMigrations(t *testing.T) {
	t.Parallel()
	s := newStack(t, stackOptions{migrateLater: true, workerEnv: []string{"NOMNOM_MAX_ATTEMPTS=2"}})
	orders := loadOrders(t)[:100]
	ids := postBatches(t, s.client, orders, 25)
	w := s.workers[0]
	var last string
	waitFor(t, "the worker to say the schema is missing", completionDeadline, func() bool {
		resp, err := http.Get(w.metricsURL + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(bufio.NewReader(resp.Body))
		last = string(b)
		return resp.StatusCode == http.StatusServiceUnavailable && strings.Contains(last, "schema")
	})
	t.Logf("e2e: before migrations: /readyz says %q", strings.TrimSpace(last))
	time.Sleep(5 * time.Second) // long enough for a NAK loop to spend two attempts
	s.migrate()
	settle(t, "worker before migrations", s.client, s.dbURL, ids, orders)
	if dl := s.deadLetters(); len(dl) != 0 {
		t.Fatalf("%d messages dead-lettered while the schema was missing", len(dl))
	}
}
