// Package statusstore owns a message's status record and the rules of its
// lifecycle, and keeps records in two stores: the JetStream KV bucket that
// the gateway reads first, and the message_status table that workers write
// in the same transaction as the entity rows.
//
// Reader reads a record the way clients must see it: KV first, a miss on a
// replicated bucket confirmed with the stream leader, then message_status,
// and of two records the one further along the lifecycle.
//
// The lifecycle rules are pure (record.go, lifecycle.go) and both stores
// apply them the same way, which one conformance suite checks. A store must
// never move a record backwards: a late or duplicate writer loses.
package statusstore
