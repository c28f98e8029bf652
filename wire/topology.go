package wire

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultEntityToken is the subject token of an envelope without entity type.
const DefaultEntityToken = "default"

// Topology names the streams and the bucket of one deployment and holds their
// one configuration. One owner (nomnom topology apply, or a gateway run with
// NOMNOM_TOPOLOGY_APPLY) calls Apply on it; every other process calls Ensure,
// which keeps what the server holds, so a process started with other
// defaults never shrinks a stream's retention.
type Topology struct {
	// Stream is the main stream (default MESSAGES); its dead-letter stream is
	// Stream + "_DLQ".
	Stream string
	// SubjectPrefix prefixes every subject (default "messages"), so several
	// deployments or test runs can share one NATS server.
	SubjectPrefix string
	// StatusBucket is the KV bucket of status records (default MESSAGE_STATUS).
	StatusBucket string
	// Replicas is the replica count of both streams and the bucket (default 1).
	Replicas int
	// DuplicateWindow is JetStream's de-duplication window (default 2m).
	DuplicateWindow time.Duration
	// MaxAge bounds how long a message stays in the main stream (default 7 days);
	// it must exceed the worst outage a worker is expected to survive.
	MaxAge time.Duration
	// StatusTTL bounds how long status records stay in KV (default 7 days);
	// message_status in PostgreSQL keeps them after that.
	StatusTTL time.Duration
}

// DefaultTopology returns the default names and limits (README, "Configuration").
func DefaultTopology() Topology {
	return Topology{
		Stream:          "MESSAGES",
		SubjectPrefix:   "messages",
		StatusBucket:    "MESSAGE_STATUS",
		Replicas:        1,
		DuplicateWindow: 2 * time.Minute,
		MaxAge:          7 * 24 * time.Hour,
		StatusTTL:       7 * 24 * time.Hour,
	}
}

var (
	nameRe  = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	tokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// prefixRe allows dotted prefixes ("acme.messages") but no wildcards.
	prefixRe = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
)

// Validate reports the first setting that NATS would refuse.
func (t Topology) Validate() error {
	switch {
	case !nameRe.MatchString(t.Stream):
		return fmt.Errorf("stream name %q: only letters, digits, '-' and '_' are allowed", t.Stream)
	case !prefixRe.MatchString(t.SubjectPrefix):
		return fmt.Errorf("subject prefix %q: dot-separated tokens of letters, digits, '-' and '_'", t.SubjectPrefix)
	case !nameRe.MatchString(t.StatusBucket):
		return fmt.Errorf("status bucket name %q: only letters, digits, '-' and '_' are allowed", t.StatusBucket)
	case t.Replicas < 1 || t.Replicas > 5:
		return fmt.Errorf("replicas %d: must be between 1 and 5", t.Replicas)
	case t.DuplicateWindow <= 0 || t.MaxAge <= 0 || t.StatusTTL <= 0:
		return errors.New("duplicate window, max age and status TTL must be positive")
	case t.DuplicateWindow > t.MaxAge:
		return fmt.Errorf("duplicate window %s exceeds max age %s", t.DuplicateWindow, t.MaxAge)
	}
	return nil
}

// MaxEntityTypeLength bounds an entity type, which becomes a subject token
// and a header value: far below NATS's control line limit (4 KiB by
// default), so no client-chosen name can make the server close the
// connection.
const MaxEntityTypeLength = 128

// ValidEntityToken reports whether an entity type can be a subject token:
// letters, digits, '-' and '_', at most MaxEntityTypeLength bytes.
func ValidEntityToken(entityType string) bool {
	return len(entityType) <= MaxEntityTypeLength && tokenRe.MatchString(entityType)
}

// DLQStream is the name of the dead-letter stream.
func (t Topology) DLQStream() string { return t.Stream + "_DLQ" }

// IngestSubject is the subject an envelope of that entity type is published to.
// The entity type must satisfy ValidEntityToken; "" maps to DefaultEntityToken.
// The token is EntityToken's, so that a worker filtering on its entities'
// subjects receives every spelling of their names.
func (t Topology) IngestSubject(entityType string) string {
	if entityType == "" {
		return t.SubjectPrefix + ".ingest." + DefaultEntityToken
	}
	return t.SubjectPrefix + ".ingest." + EntityToken(entityType)
}

// EntityToken is the subject token of an entity type: lower case, without
// underscores. Generated workers match entity types ignoring case and
// underscores (Order, order and ORDER are one entity), and so do subjects.
func EntityToken(entityType string) string {
	return strings.ToLower(strings.ReplaceAll(entityType, "_", ""))
}

// DLQSubject is the subject a failed envelope of that entity type is copied to.
func (t Topology) DLQSubject(entityType string) string {
	if entityType == "" || !ValidEntityToken(entityType) {
		entityType = DefaultEntityToken
	}
	return t.SubjectPrefix + ".dlq." + entityType
}

// StreamConfig is the one configuration of the main stream.
func (t Topology) StreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        t.Stream,
		Description: "nomnom ingested messages",
		Subjects:    []string{t.SubjectPrefix + ".ingest.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
		MaxAge:      t.MaxAge,
		Duplicates:  t.DuplicateWindow,
		Discard:     jetstream.DiscardOld,
	}
}

// DLQStreamConfig is the one configuration of the dead-letter stream. It keeps
// messages until an operator redrives or purges them.
func (t Topology) DLQStreamConfig() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        t.DLQStream(),
		Description: "nomnom dead-lettered messages",
		Subjects:    []string{t.SubjectPrefix + ".dlq.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
		Discard:     jetstream.DiscardNew,
	}
}

// StatusBucketConfig is the one configuration of the status KV bucket.
func (t Topology) StatusBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      t.StatusBucket,
		Description: "nomnom message status records",
		History:     1,
		TTL:         t.StatusTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
	}
}

// ConsumerOptions are the worker-side settings of the durable consumer.
type ConsumerOptions struct {
	// Durable is the consumer name shared by every worker of a deployment.
	Durable string
	// AckWait is how long a fetched message may stay unacknowledged before
	// JetStream redelivers it; a worker extends it while a batch is in hand.
	AckWait time.Duration
	// MaxAckPending bounds the messages in flight across all workers.
	MaxAckPending int
	// Subjects are the subjects the consumer takes (IngestSubject of each
	// entity type); none: every ingest subject. More than one needs NATS
	// 2.10 (FilterSubjects); on older servers, open one consumer per subject.
	Subjects []string
}

// ConsumerConfig is the one configuration of the workers' durable pull
// consumer. MaxDeliver is unlimited on purpose: the worker counts attempts
// itself and dead-letters a message before giving up, so JetStream never
// silently stops redelivering one.
func (t Topology) ConsumerConfig(o ConsumerOptions) jetstream.ConsumerConfig {
	filter, filters := t.SubjectPrefix+".ingest.>", []string(nil)
	switch len(o.Subjects) {
	case 0:
	case 1:
		filter = o.Subjects[0]
	default:
		filter, filters = "", o.Subjects
	}
	return jetstream.ConsumerConfig{
		Durable:        o.Durable,
		Description:    "nomnom workers",
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        o.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  o.MaxAckPending,
		FilterSubject:  filter,
		FilterSubjects: filters,
		Replicas:       t.Replicas,
	}
}
