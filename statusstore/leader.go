package statusstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Why Reader falls back to the stream leader.
//
// The status bucket's stream has AllowDirect set (nats.go sets it on every
// bucket it creates), so KeyValue.Get is a DIRECT.GET that any replica of
// the stream may answer. With Replicas > 1, a write is acknowledged once a
// quorum has stored it, and a follower applies it a little later: a client
// polling GET /ingest/status right after its 202 may reach a follower that
// has not applied the gateway's create yet and would be told 404 for a
// message that JetStream holds. Stream.GetLastMsgForSubject does not help,
// since nats.go also turns it into a direct get when the stream allows
// direct gets. A STREAM.MSG.GET API request, by contrast, is answered by the
// stream leader only, which has every acknowledged write. It costs a round
// trip through the meta layer, so a Reader issues it only on a miss, before
// trusting the miss.

// jsErrMessageNotFound is the JetStream API error code for "no message".
const jsErrMessageNotFound = 10037

// leaderGet reads a message's status record through the leader of the
// bucket's stream, with a non-direct STREAM.MSG.GET for the last message on
// the key's subject. It returns an error wrapping ErrNotFound
// when the key has no value (never written, deleted, purged or expired).
func leaderGet(ctx context.Context, nc *nats.Conn, bucket, id string) (Record, error) {
	req, err := json.Marshal(struct {
		LastFor string `json:"last_by_subj"`
	}{"$KV." + bucket + "." + id})
	if err != nil {
		return Record{}, err
	}
	msg, err := nc.RequestWithContext(ctx, jetstream.DefaultAPIPrefix+"STREAM.MSG.GET.KV_"+bucket, req)
	if err != nil {
		return Record{}, fmt.Errorf("statusstore: leader get %s: %w", id, err)
	}
	return decodeMsgGet(id, msg.Data)
}

// msgGetResponse is the STREAM.MSG.GET answer, as the server sends it.
type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Header []byte `json:"hdrs"`
		Data   []byte `json:"data"`
	} `json:"message"`
}

// decodeMsgGet turns a STREAM.MSG.GET answer into the record it holds.
func decodeMsgGet(id string, data []byte) (Record, error) {
	var res msgGetResponse
	if err := json.Unmarshal(data, &res); err != nil {
		return Record{}, fmt.Errorf("statusstore: leader get %s: %w", id, err)
	}
	switch {
	case res.Error != nil && res.Error.ErrCode == jsErrMessageNotFound:
		return Record{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	case res.Error != nil:
		return Record{}, fmt.Errorf("statusstore: leader get %s: %s (%d)", id, res.Error.Description, res.Error.ErrCode)
	case res.Message == nil:
		return Record{}, fmt.Errorf("statusstore: leader get %s: empty answer", id)
	}
	if len(res.Message.Header) > 0 {
		h, err := nats.DecodeHeadersMsg(res.Message.Header)
		if err != nil {
			return Record{}, fmt.Errorf("statusstore: leader get %s: headers: %w", id, err)
		}
		if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
			return Record{}, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
	}
	var r Record
	if err := json.Unmarshal(res.Message.Data, &r); err != nil {
		return Record{}, fmt.Errorf("statusstore: leader get %s: decode: %w", id, err)
	}
	return r, nil
}
