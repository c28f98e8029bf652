package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/nomnom-io/nomnom/statusstore"
	"github.com/nomnom-io/nomnom/wire"
)

// IdempotencyNamespace is the UUIDv5 namespace of message ids derived from
// an Idempotency-Key. It never changes: the same tenant and key map to the
// same message_id across restarts and versions.
var IdempotencyNamespace = uuid.MustParse("cf1b515b-cac4-4b71-81ee-3bcb23347377")

// IdempotentID is the message_id of a tenant's Idempotency-Key: a UUIDv5,
// so every gateway derives the same id without asking anyone.
func IdempotentID(tenant, key string) string {
	return uuid.NewSHA1(IdempotencyNamespace, []byte(tenant+"\x00"+key)).String()
}

// acceptedResponse is the 202 answer of POST /ingest/message.
type acceptedResponse struct {
	MessageID string    `json:"message_id"`
	Status    string    `json:"status"`
	Timestamp time.Time `json:"timestamp"`
	Duplicate bool      `json:"duplicate,omitempty"`
}

// handleMessage serves POST /ingest/message: one JSON object, durable in
// JetStream before the 202.
func (s *Server) handleMessage(w http.ResponseWriter, r *http.Request) *apiError {
	if _, e := readMedia(r); e != nil {
		return e
	}
	meta, e := readMeta(r)
	if e != nil {
		return e
	}
	body, done, e := s.readBody(w, r, s.messageLimit())
	defer done()
	if e != nil {
		return e
	}
	body, e = checkObject(body)
	if e != nil {
		return e
	}
	if meta, e = meta.withBodyEntityType(body); e != nil {
		return e
	}
	store, e := s.available()
	if e != nil {
		return e
	}
	var res acceptedResponse
	if meta.idempotencyKey != "" {
		res, e = s.acceptOnce(r.Context(), store, meta, body)
	} else {
		res, e = s.accept(r.Context(), store, meta, body)
	}
	if e != nil {
		return e
	}
	h := w.Header()
	h["Location"] = []string{"/ingest/status/" + res.MessageID}
	h["Content-Type"] = []string{"application/json"}
	w.WriteHeader(http.StatusAccepted)
	_, _ = w.Write(appendAcceptedResponse(make([]byte, 0, 128), res))
	return nil
}

// accept publishes a message under a new id. The envelope and the status
// create are published together and their acknowledgements awaited
// together, so the client waits one round trip, not two; if JetStream does
// not acknowledge the envelope, the record is taken back and the client
// told to retry.
func (s *Server) accept(ctx context.Context, store *statusstore.KV, meta ingestMeta, body []byte) (acceptedResponse, *apiError) {
	release, e := s.admit(1)
	if e != nil {
		return acceptedResponse{}, e
	}
	defer release()
	ctx = recordCtx(ctx)
	now := time.Now()
	env := meta.envelope(uuid.NewString(), body, now)
	pub := s.publishAsync(ctx, s.natsMsg(env))
	createErr := s.createAll(ctx, store, []*wire.Envelope{env}, now)[0]
	_, pubErr := pub.wait()
	if pubErr != nil {
		s.publishFailed(pub.msg, pubErr)
		if createErr == nil {
			s.discardAccepted(ctx, store, env.MessageID)
		}
		return acceptedResponse{}, unacknowledged(pubErr)
	}
	s.metrics.accepted.Inc()
	return acceptedResponse{MessageID: env.MessageID, Status: "accepted", Timestamp: env.ReceivedAt}, nil
}

// acceptOnce publishes a message under the id derived from its
// Idempotency-Key, at most once. A record under that id means an earlier
// request was accepted: nothing is published. Otherwise the publish carries
// Nats-Msg-Id = id, so JetStream stores concurrent repeats once inside its
// de-duplication window; the record, written after the acknowledgement,
// covers every repeat after the window.
func (s *Server) acceptOnce(ctx context.Context, store *statusstore.KV, meta ingestMeta, body []byte) (acceptedResponse, *apiError) {
	id := IdempotentID(meta.tenant, meta.idempotencyKey)
	rec, found, e := s.lookup(ctx, store, id)
	if e != nil {
		return acceptedResponse{}, e
	}
	if found {
		s.metrics.duplicates.Inc()
		return acceptedResponse{MessageID: id, Status: "accepted", Timestamp: rec.ReceivedAt, Duplicate: true}, nil
	}
	release, e := s.admit(1)
	if e != nil {
		return acceptedResponse{}, e
	}
	defer release()
	ctx, cancel := s.publishCtx(ctx)
	defer cancel()
	now := time.Now()
	env := meta.envelope(id, body, now)
	pub := s.publishAsync(ctx, s.natsMsg(env))
	ack, err := pub.wait()
	if err != nil {
		s.publishFailed(pub.msg, err)
		return acceptedResponse{}, unacknowledged(err)
	}
	res := acceptedResponse{MessageID: id, Status: "accepted", Timestamp: env.ReceivedAt, Duplicate: ack.Duplicate}
	if err := s.record(ctx, store, env, now); errors.Is(err, statusstore.ErrExists) {
		if rec, found, _ := s.lookup(ctx, store, id); found {
			res.Timestamp = rec.ReceivedAt
		}
	}
	if ack.Duplicate {
		s.metrics.duplicates.Inc()
	} else {
		s.metrics.accepted.Inc()
	}
	return res, nil
}

// unacknowledged is the answer to a publish JetStream did not acknowledge.
// A message larger than the server takes cannot succeed on a retry: 413
// (the body limit is derived from max_payload, so this is only reached when
// the server's limit went down since the gateway connected).
func unacknowledged(err error) *apiError {
	if errors.Is(err, nats.ErrMaxPayload) {
		return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, "the message is larger than NATS accepts: "+err.Error())
	}
	return errorf(http.StatusServiceUnavailable, codeUnavailable, "JetStream did not acknowledge the message: "+err.Error())
}

// entityTypeKey is the top-level key of a body that names its entity type
// when no header or query parameter does, as the origin project's gateway
// reads it.
var entityTypeKey = []byte(`"entity_type"`)

// withBodyEntityType returns m with the entity type of obj's top-level
// "entity_type" key when m has none, checked like the header's. A body
// without the key (nearly all) costs one byte search.
func (m ingestMeta) withBodyEntityType(obj []byte) (ingestMeta, *apiError) {
	if m.entityType != "" || !bytes.Contains(obj, entityTypeKey) {
		return m, nil
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(obj, &top); err != nil {
		return m, errorf(http.StatusBadRequest, codeInvalidJSON, "invalid JSON: "+err.Error())
	}
	raw, ok := top["entity_type"]
	if !ok || string(raw) == "null" {
		return m, nil
	}
	var t string
	if err := json.Unmarshal(raw, &t); err != nil {
		return m, errorf(http.StatusBadRequest, codeInvalidEntityType, "entity_type in the body must be a string, not "+jsonKind(raw[0]))
	}
	if e := checkEntityType("entity_type in the body", t); e != nil {
		return m, e
	}
	m.entityType = t
	return m, nil
}

// mediaKind is how a request's Content-Type says its body should be read.
type mediaKind int

const (
	// mediaJSON is JSON, or a type that says nothing about the body and
	// that clients send JSON under: none, curl's default form type.
	mediaJSON mediaKind = iota
	// mediaLines is a type that names lines of JSON: NDJSON, JSON Lines,
	// plain text (the seed's own batch example).
	mediaLines
)

// mediaTypes are the Content-Types the ingest endpoints read. Anything else
// (XML, multipart, images …) is clearly not JSON and answered 415.
var mediaTypes = map[string]mediaKind{
	"application/json":                  mediaJSON,
	"application/x-www-form-urlencoded": mediaJSON,
	"application/x-ndjson":              mediaLines,
	"application/jsonl":                 mediaLines,
	"application/x-jsonlines":           mediaLines,
	"text/plain":                        mediaLines,
}

// readMedia returns how to read the body, or 415 when the request names a
// content type that is not JSON. A request without one is taken as JSON.
func readMedia(r *http.Request) (mediaKind, *apiError) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return mediaJSON, nil
	}
	media, _, err := mime.ParseMediaType(ct)
	if err == nil {
		if kind, ok := mediaTypes[media]; ok {
			return kind, nil
		}
		if strings.HasPrefix(media, "application/") && strings.HasSuffix(media, "+json") {
			return mediaJSON, nil
		}
	}
	return 0, errorf(http.StatusUnsupportedMediaType, codeUnsupportedMedia,
		fmt.Sprintf("Content-Type %q is not supported; send JSON as application/json (a batch also as application/x-ndjson, application/jsonl or text/plain)", ct))
}

// checkObject accepts exactly one JSON object, and says where JSON that is
// not valid goes wrong. It returns the object as the envelope embeds it:
// without the white space around it, and compacted when it has white space
// inside (a pretty-printed body), so the stream holds compact JSON.
func checkObject(data []byte) ([]byte, *apiError) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errorf(http.StatusBadRequest, codeEmptyBody, "body is empty; send one JSON object")
	}
	valid, spaced := scanJSON(trimmed)
	if !valid && nestingDepth(trimmed) > maxBodyNesting {
		return nil, errorf(http.StatusBadRequest, codeInvalidJSON,
			fmt.Sprintf("JSON nests deeper than %d levels", maxBodyNesting))
	}
	if !valid {
		var raw json.RawMessage
		err := json.Unmarshal(data, &raw)
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) {
			return nil, errorf(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("invalid JSON at byte offset %d: %v", syntax.Offset, syntax))
		}
		return nil, errorf(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("invalid JSON: %v", err))
	}
	if !utf8.Valid(trimmed) {
		lead := bytes.IndexByte(data, trimmed[0])
		return nil, errorf(http.StatusBadRequest, codeInvalidJSON,
			fmt.Sprintf("invalid UTF-8 at byte offset %d", lead+invalidUTF8(trimmed)))
	}
	if trimmed[0] != '{' {
		return nil, errorf(http.StatusBadRequest, codeNotObject, "body must be a JSON object, not "+jsonKind(trimmed[0]))
	}
	if spaced {
		var buf bytes.Buffer
		buf.Grow(len(trimmed))
		if err := json.Compact(&buf, trimmed); err != nil {
			return nil, errorf(http.StatusBadRequest, codeInvalidJSON, fmt.Sprintf("invalid JSON: %v", err))
		}
		return buf.Bytes(), nil
	}
	return trimmed, nil
}

func jsonKind(first byte) string {
	switch first {
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	default:
		return "a number"
	}
}
