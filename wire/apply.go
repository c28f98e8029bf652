package wire

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ApplyOptions are the owner's choices beyond the topology itself.
type ApplyOptions struct {
	// RefuseLost makes Apply fail, instead of warning, when the status bucket
	// holds records but the main stream is missing or empty: the sign of a
	// server that lost its stream files (a power cut without fsync).
	RefuseLost bool
	// Logger receives the warnings; nil: slog.Default().
	Logger *slog.Logger
}

// ErrStreamLost reports a main stream that came back missing or empty while
// the status bucket still holds records.
var ErrStreamLost = errors.New("main stream is missing or empty while the status bucket holds records")

// Apply creates or updates both streams and the status bucket to exactly the
// configured settings, and returns the bucket. It is the one call that changes
// the topology; run it from one owner only (nomnom topology apply).
func Apply(ctx context.Context, js jetstream.JetStream, t Topology, o ApplyOptions) (jetstream.KeyValue, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := checkLost(ctx, js, t); err != nil {
		if o.RefuseLost {
			return nil, fmt.Errorf("apply topology: %w", err)
		}
		log.Warn("topology apply: the main stream is recreated empty; messages accepted before were lost",
			"stream", t.Stream, "bucket", t.StatusBucket, "err", err)
	}
	for _, cfg := range []jetstream.StreamConfig{t.StreamConfig(), t.DLQStreamConfig()} {
		if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("apply stream %s: %w", cfg.Name, err)
		}
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, t.StatusBucketConfig())
	if err != nil {
		return nil, fmt.Errorf("apply bucket %s: %w", t.StatusBucket, err)
	}
	return kv, nil
}

// checkLost returns ErrStreamLost when the status bucket holds records but
// the main stream is missing or has never stored a message.
func checkLost(ctx context.Context, js jetstream.JetStream, t Topology) error {
	kv, err := js.KeyValue(ctx, t.StatusBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", t.StatusBucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return fmt.Errorf("read bucket %s: %w", t.StatusBucket, err)
	}
	if st.Values() == 0 {
		return nil
	}
	s, err := js.Stream(ctx, t.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("%w: stream %s is missing, bucket %s holds %d records", ErrStreamLost, t.Stream, t.StatusBucket, st.Values())
	}
	if err != nil {
		return fmt.Errorf("read stream %s: %w", t.Stream, err)
	}
	if s.CachedInfo().State.LastSeq == 0 {
		return fmt.Errorf("%w: stream %s never stored a message, bucket %s holds %d records", ErrStreamLost, t.Stream, t.StatusBucket, st.Values())
	}
	return nil
}

// Ensure makes sure both streams and the status bucket exist and returns the
// bucket. What is missing is created with the configured settings; what
// exists is kept as the server holds it: each setting that differs from the
// configuration is logged by name (configured and server value), and only a
// stream whose subjects do not cover the configured ones is refused. It is
// safe to call from every process at every start; Apply is the call that
// changes settings.
func Ensure(ctx context.Context, js jetstream.JetStream, t Topology) (jetstream.KeyValue, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	for _, cfg := range []jetstream.StreamConfig{t.StreamConfig(), t.DLQStreamConfig()} {
		if err := ensureStream(ctx, js, cfg); err != nil {
			return nil, err
		}
	}
	return ensureBucket(ctx, js, t.StatusBucketConfig())
}

func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err = js.CreateStream(ctx, want); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("ensure stream %s: %w", want.Name, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", want.Name, err)
	}
	have := s.CachedInfo().Config
	for _, subject := range want.Subjects {
		if !slices.Contains(have.Subjects, subject) {
			return fmt.Errorf("ensure stream %s: the server's subjects %v do not include %s", want.Name, have.Subjects, subject)
		}
	}
	want = withServerDefaults(want)
	logDiff("stream", want.Name, "replicas", want.Replicas, have.Replicas)
	logDiff("stream", want.Name, "max_age", want.MaxAge, have.MaxAge)
	logDiff("stream", want.Name, "duplicate_window", want.Duplicates, have.Duplicates)
	return nil
}

// withServerDefaults fills in what the server stores for a setting left at
// zero (the dead-letter stream leaves its duplicate window to the server),
// so that a zero is not reported as a difference at every start.
func withServerDefaults(c jetstream.StreamConfig) jetstream.StreamConfig {
	const defaultDuplicates = 2 * time.Minute // nats-server's default window
	c.Replicas = max(c.Replicas, 1)
	if c.Duplicates == 0 {
		c.Duplicates = defaultDuplicates
		if c.MaxAge > 0 && c.MaxAge < defaultDuplicates {
			c.Duplicates = c.MaxAge
		}
	}
	return c
}

func ensureBucket(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, want.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		kv, err = js.CreateKeyValue(ctx, want)
		if errors.Is(err, jetstream.ErrBucketExists) {
			kv, err = js.KeyValue(ctx, want.Bucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", want.Bucket, err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("ensure bucket %s: %w", want.Bucket, err)
	}
	logDiff("bucket", want.Bucket, "ttl", want.TTL, st.TTL())
	if ss, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		logDiff("bucket", want.Bucket, "replicas", want.Replicas, ss.StreamInfo().Config.Replicas)
	}
	return kv, nil
}

// logDiff logs a setting the server holds differently from the
// configuration; the server's value stays in force.
func logDiff[V int | time.Duration](kind, name, setting string, configured, server V) {
	if configured == server {
		return
	}
	slog.Default().Warn("topology differs from the configuration; the server's value is kept (run nomnom topology apply to change it)",
		kind, name, "setting", setting, "configured", fmt.Sprint(configured), "server", fmt.Sprint(server))
}
