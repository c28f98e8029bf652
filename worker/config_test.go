package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/nomnom-io/nomnom/wire"
)

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"negative batch", func(c *Config) { c.BatchSize = -1 }, "batch size"},
		{"pending below batch", func(c *Config) { c.BatchSize, c.MaxAckPending = 200, 100 }, "max ack pending"},
		{"short ack wait", func(c *Config) { c.AckWait = time.Millisecond }, "ack wait"},
		{"bad backoff", func(c *Config) { c.Backoff = []time.Duration{time.Second, 0} }, "backoff"},
		{"dotted consumer", func(c *Config) { c.Consumer = "a.b" }, "consumer name"},
		{"bad topology", func(c *Config) { c.Topology.Stream = "a b" }, "topology"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Topology: wire.DefaultTopology()}
			tt.edit(&cfg)
			err := cfg.withDefaults().validate()
			if (tt.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("validate: %v, want %q", err, tt.want)
			}
		})
	}
}

func TestBackoffRepeatsLast(t *testing.T) {
	t.Parallel()
	cfg := Config{Backoff: []time.Duration{1, 2, 3}}
	for delivery, want := range map[int]time.Duration{1: 1, 2: 2, 3: 3, 4: 3, 50: 3} {
		if got := cfg.backoff(delivery); got != want {
			t.Errorf("backoff(%d) = %d, want %d", delivery, got, want)
		}
	}
}

func TestIsTransient(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "40001"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{&pgconn.PgError{Code: "57P01"}, true},
		{&pgconn.PgError{Code: "08006"}, true},
		{fmt.Errorf("wrapped: %w", &pgconn.PgError{Code: "53300"}), true},
		{context.DeadlineExceeded, true},
		{pgconn.ErrConnClosed, true},
		{&pgconn.PgError{Code: "23505"}, false},
		{&pgconn.PgError{Code: "22P02"}, false},
		{Permanent(&pgconn.PgError{Code: "40001"}), false},
		{errors.New("handler bug"), false},
		{nil, false},
	}
	for _, tt := range tests {
		if got := IsTransient(tt.err); got != tt.want {
			t.Errorf("IsTransient(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
