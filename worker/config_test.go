package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
		want string // the field named, "" for valid
	}{
		{"defaults", func(*Config) {}, ""},
		{"negative batch", func(c *Config) { c.BatchSize = -1 }, "BatchSize"},
		{"pending below batch", func(c *Config) { c.BatchSize, c.MaxAckPending = 200, 100 }, "MaxAckPending"},
		{"short ack wait", func(c *Config) { c.AckWait = time.Millisecond }, "AckWait"},
		{"bad backoff", func(c *Config) { c.Backoff = []time.Duration{time.Second, 0} }, "Backoff"},
		{"dotted consumer", func(c *Config) { c.Consumer = "a.b" }, "Consumer"},
		{"bad topology", func(c *Config) { c.Topology.Stream = "a b" }, "Topology"},
		{"negative shutdown", func(c *Config) { c.ShutdownTimeout = -time.Second }, "ShutdownTimeout"},
		{"too many kv writers", func(c *Config) { c.KVConcurrency = 2000 }, "KVConcurrency"},
		{"too much concurrency", func(c *Config) { c.Concurrency = 65 }, "Concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{Topology: wire.DefaultTopology()}
			tt.edit(&cfg)
			err := cfg.withDefaults().Validate()
			var fe *FieldError
			if (tt.want == "") != (err == nil) || (err != nil && (!errors.As(err, &fe) || fe.Field != tt.want ||
				!strings.HasPrefix(err.Error(), tt.want+": "))) {
				t.Errorf("Validate: %v, want an error naming %q", err, tt.want)
			}
		})
	}
}

// TestConfigValidateAsGiven checks that Validate, unlike New, takes a zero
// field for what it is, so a command line that passes 0 hears of it.
func TestConfigValidateAsGiven(t *testing.T) {
	t.Parallel()
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatalf("DefaultConfig: %v", err)
	}
	if got, want := DefaultConfig(), (Config{Topology: wire.DefaultTopology()}).withDefaults(); got.BatchSize != want.BatchSize ||
		got.MaxAckPending != want.MaxAckPending || got.Concurrency != want.Concurrency || !slices.Equal(got.Backoff, want.Backoff) {
		t.Errorf("DefaultConfig %+v differs from a zero Config with defaults %+v", got, want)
	}
	for field, edit := range map[string]func(*Config){
		"Consumer":        func(c *Config) { c.Consumer = "" },
		"BatchSize":       func(c *Config) { c.BatchSize = 0 },
		"BatchWait":       func(c *Config) { c.BatchWait = 0 },
		"MaxAttempts":     func(c *Config) { c.MaxAttempts = 0 },
		"Backoff":         func(c *Config) { c.Backoff = nil },
		"AckWait":         func(c *Config) { c.AckWait = 0 },
		"ShutdownTimeout": func(c *Config) { c.ShutdownTimeout = 0 },
		"KVConcurrency":   func(c *Config) { c.KVConcurrency = 0 },
		"Concurrency":     func(c *Config) { c.Concurrency = 0 },
	} {
		cfg := DefaultConfig()
		edit(&cfg)
		var fe *FieldError
		if err := cfg.Validate(); !errors.As(err, &fe) || fe.Field != field {
			t.Errorf("zero %s: Validate returned %v, want a FieldError for it", field, err)
		}
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
