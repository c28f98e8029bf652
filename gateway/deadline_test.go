package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestSlowUnauthenticatedBodiesAreClosed opens 400 connections that announce
// a body, send one byte of it and no API key: the gateway answers none of
// them with a hold on its connection, every one is closed within 45s.
func TestSlowUnauthenticatedBodiesAreClosed(t *testing.T) {
	t.Parallel()
	h := setup(t, func(c *Config) {
		c.BodyReadTimeout = 2 * time.Second
		c.APIKeys = map[string]string{"key-a": "a"}
	})
	const conns = 400
	deadline := time.Now().Add(45 * time.Second)
	paths := []string{"/ingest/message", "/ingest/batch", "/ingest/dlq/redrive"}
	var wg sync.WaitGroup
	errs := make(chan error, conns)
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- slowUntilClosed(h.srv.Addr().String(), paths[i%len(paths)], deadline)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// slowUntilClosed sends the start of a body and reads until the gateway
// closes the connection, or deadline passes.
func slowUntilClosed(addr, path string, deadline time.Time) error {
	conn, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", path); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, conn)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("%s: the connection was still open after 45s", path)
	case err != nil && !strings.Contains(err.Error(), "reset"):
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
