// Package natsconn holds the settings every nomnom process shares: the NATS
// connection (URLs, credentials, TLS), the topology and the logger, each
// with its flag and environment variable, and the connection they open.
// Only command packages use it; the libraries take a *nats.Conn, a
// wire.Topology and a *slog.Logger.
package natsconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/backoff"
	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/wire"
)

// Settings are the connection, topology and logging settings every process
// shares.
type Settings struct {
	// URLs are the NATS seed URLs, comma-separated; they may carry a
	// password, so print them only through RedactURLs.
	URLs string
	// Topology names the streams, subjects and status bucket.
	Topology wire.Topology

	creds     string
	nkey      string
	user      string
	password  string
	token     string
	tlsCA     string
	tlsCert   string
	tlsKey    string
	logLevel  string
	logFormat string
}

// Define registers the NATS, topology and logging flags on f.
func (s *Settings) Define(f *envflag.Set) {
	def := wire.DefaultTopology()
	f.Secret(&s.URLs, "nats-url", "NATS_URL", "nats://localhost:4222", "NATS server URLs, comma-separated seeds")
	f.String(&s.creds, "nats-creds", "NATS_CREDS", "", "NATS credentials file")
	f.String(&s.nkey, "nats-nkey", "NATS_NKEY", "", "NATS nkey seed file")
	f.String(&s.user, "nats-user", "NATS_USER", "", "NATS user")
	f.Secret(&s.password, "nats-password", "NATS_PASSWORD", "", "NATS password")
	f.Secret(&s.token, "nats-token", "NATS_TOKEN", "", "NATS token")
	f.String(&s.tlsCA, "nats-tls-ca", "NATS_TLS_CA", "", "CA certificate file for NATS TLS")
	f.String(&s.tlsCert, "nats-tls-cert", "NATS_TLS_CERT", "", "client certificate file for NATS TLS")
	f.String(&s.tlsKey, "nats-tls-key", "NATS_TLS_KEY", "", "client key file for NATS TLS")
	f.String(&s.Topology.Stream, "stream", "NATS_STREAM", def.Stream, "main stream name; the DLQ stream is <stream>_DLQ")
	f.String(&s.Topology.SubjectPrefix, "subject-prefix", "NATS_SUBJECT_PREFIX", def.SubjectPrefix, "subject prefix")
	f.String(&s.Topology.StatusBucket, "status-bucket", "NATS_STATUS_BUCKET", def.StatusBucket, "status KV bucket")
	f.Int(&s.Topology.Replicas, "replicas", "NATS_REPLICAS", def.Replicas, "replicas of streams and bucket")
	f.Duration(&s.Topology.DuplicateWindow, "duplicate-window", "NATS_DUPLICATE_WINDOW", def.DuplicateWindow, "JetStream de-duplication window")
	f.Duration(&s.Topology.MaxAge, "stream-max-age", "NATS_STREAM_MAX_AGE", def.MaxAge, "how long messages stay in the main stream")
	f.Duration(&s.Topology.StatusTTL, "status-ttl", "NATS_STATUS_TTL", def.StatusTTL, "how long status records stay in KV")
	f.String(&s.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	f.String(&s.logFormat, "log-format", "LOG_FORMAT", "text", "text or json")
}

// Connect opens a connection that reconnects forever, so a NATS outage is
// survived rather than fatal.
func (s *Settings) Connect(name string, log *slog.Logger) (*nats.Conn, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(true),
		// Fail a publish at once while disconnected instead of buffering it:
		// the gateway answers 503 for it, so it must not reach the stream later.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			log.Warn("nats disconnected", "err", err)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted())
		}),
	}
	switch {
	case s.creds != "":
		opts = append(opts, nats.UserCredentials(s.creds))
	case s.nkey != "":
		o, err := nats.NkeyOptionFromSeed(s.nkey)
		if err != nil {
			return nil, fmt.Errorf("nats nkey: %w", err)
		}
		opts = append(opts, o)
	case s.user != "":
		opts = append(opts, nats.UserInfo(s.user, s.password))
	case s.token != "":
		opts = append(opts, nats.Token(s.token))
	}
	if s.tlsCA != "" {
		opts = append(opts, nats.RootCAs(s.tlsCA))
	}
	if s.tlsCert != "" || s.tlsKey != "" {
		opts = append(opts, nats.ClientCert(s.tlsCert, s.tlsKey))
	}
	nc, err := nats.Connect(s.URLs, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", RedactURLs(s.URLs), err)
	}
	return nc, nil
}

// ClosedForGood returns a channel that is closed when nc is closed and
// will not reconnect: nats.go gives up on a connection after some server
// errors (a protocol violation such as "maximum control line exceeded",
// among others), and a process keeping such a connection would answer 503
// for ever. The long-running commands exit when it fires, so that the
// orchestrator starts them again with a new connection.
func ClosedForGood(nc *nats.Conn) <-chan struct{} {
	ch := make(chan struct{})
	var once sync.Once
	nc.SetClosedHandler(func(*nats.Conn) { once.Do(func() { close(ch) }) })
	if nc.IsClosed() {
		once.Do(func() { close(ch) })
	}
	return ch
}

// ClosedError logs and returns the error a long-running command exits
// with when its NATS connection was closed for good (see ClosedForGood).
func ClosedError(nc *nats.Conn, log *slog.Logger) error {
	err := fmt.Errorf("NATS connection closed and will not reconnect (last error: %v); exiting so that the process is restarted", nc.LastError())
	log.Error(err.Error())
	return err
}

// RedactURLs hides passwords in NATS URLs so they never reach a log.
func RedactURLs(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if at := strings.LastIndex(p, "@"); at >= 0 {
			if scheme := strings.Index(p, "://"); scheme >= 0 && scheme < at {
				parts[i] = p[:scheme+3] + "***" + p[at:]
			}
		}
	}
	return strings.Join(parts, ",")
}

// Logger builds the process logger from the settings.
func (s *Settings) Logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(s.logLevel)); err != nil {
		return nil, fmt.Errorf("LOG_LEVEL=%q: want debug, info, warn or error", s.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch s.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("LOG_FORMAT=%q: want text or json", s.logFormat)
	}
}

// WaitConnected waits until nc is connected, at most timeout.
func WaitConnected(ctx context.Context, nc *nats.Conn, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for nc.Status() != nats.CONNECTED {
		if time.Now().After(deadline) {
			return errors.New("not reachable")
		}
		if err := backoff.Sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}

// JetStream connects as a short-lived command does: it waits up to ten
// seconds for the connection, then returns it with its JetStream context.
// The caller closes the connection.
func (s *Settings) JetStream(ctx context.Context, name string, log *slog.Logger) (*nats.Conn, jetstream.JetStream, error) {
	nc, err := s.Connect(name, log)
	if err != nil {
		return nil, nil, err
	}
	if err := WaitConnected(ctx, nc, 10*time.Second); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("NATS at %s: %w", RedactURLs(s.URLs), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, err
	}
	return nc, js, nil
}
