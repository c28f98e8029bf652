package cli

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/wire"
)

// natsSettings are the connection settings every process shares.
type natsSettings struct {
	urls      string
	creds     string
	nkey      string
	user      string
	password  string
	token     string
	tlsCA     string
	tlsCert   string
	tlsKey    string
	topology  wire.Topology
	logLevel  string
	logFormat string
}

// define registers the NATS, topology and logging flags on f.
func (s *natsSettings) define(f *flags) {
	def := wire.DefaultTopology()
	f.Secret(&s.urls, "nats-url", "NATS_URL", "nats://localhost:4222", "NATS server URLs, comma-separated seeds")
	f.String(&s.creds, "nats-creds", "NATS_CREDS", "", "NATS credentials file")
	f.String(&s.nkey, "nats-nkey", "NATS_NKEY", "", "NATS nkey seed file")
	f.String(&s.user, "nats-user", "NATS_USER", "", "NATS user")
	f.Secret(&s.password, "nats-password", "NATS_PASSWORD", "", "NATS password")
	f.Secret(&s.token, "nats-token", "NATS_TOKEN", "", "NATS token")
	f.String(&s.tlsCA, "nats-tls-ca", "NATS_TLS_CA", "", "CA certificate file for NATS TLS")
	f.String(&s.tlsCert, "nats-tls-cert", "NATS_TLS_CERT", "", "client certificate file for NATS TLS")
	f.String(&s.tlsKey, "nats-tls-key", "NATS_TLS_KEY", "", "client key file for NATS TLS")
	f.String(&s.topology.Stream, "stream", "NATS_STREAM", def.Stream, "main stream name; the DLQ stream is <stream>_DLQ")
	f.String(&s.topology.SubjectPrefix, "subject-prefix", "NATS_SUBJECT_PREFIX", def.SubjectPrefix, "subject prefix")
	f.String(&s.topology.StatusBucket, "status-bucket", "NATS_STATUS_BUCKET", def.StatusBucket, "status KV bucket")
	f.Int(&s.topology.Replicas, "replicas", "NATS_REPLICAS", def.Replicas, "replicas of streams and bucket")
	f.Duration(&s.topology.DuplicateWindow, "duplicate-window", "NATS_DUPLICATE_WINDOW", def.DuplicateWindow, "JetStream de-duplication window")
	f.Duration(&s.topology.MaxAge, "stream-max-age", "NATS_STREAM_MAX_AGE", def.MaxAge, "how long messages stay in the main stream")
	f.Duration(&s.topology.StatusTTL, "status-ttl", "NATS_STATUS_TTL", def.StatusTTL, "how long status records stay in KV")
	f.String(&s.logLevel, "log-level", "LOG_LEVEL", "info", "debug, info, warn or error")
	f.String(&s.logFormat, "log-format", "LOG_FORMAT", "text", "text or json")
}

// connect opens a connection that reconnects forever, so a NATS outage is
// survived rather than fatal.
func (s *natsSettings) connect(name string, log *slog.Logger) (*nats.Conn, error) {
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
	nc, err := nats.Connect(s.urls, opts...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", redactURLs(s.urls), err)
	}
	return nc, nil
}

// redactURLs hides passwords in NATS URLs so they never reach a log.
func redactURLs(urls string) string {
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

// logger builds the process logger from the settings.
func (s *natsSettings) logger(w io.Writer) (*slog.Logger, error) {
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

// stderrOr returns w, or os.Stderr when w is nil.
func stderrOr(w io.Writer) io.Writer {
	if w == nil {
		return os.Stderr
	}
	return w
}
