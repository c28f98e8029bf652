// Package worker is the generic consumer runtime of nomnom: it takes
// envelopes from the main stream, hands them in batches to a Handler (the
// generated code) inside one PostgreSQL transaction, records each message's
// status, and dead-letters the messages that cannot succeed. It owns the
// delivery and failure rules; it must never know an entity.
//
// # Lifecycle of a batch
//
// The worker fetches up to BatchSize messages (waiting at most BatchWait)
// from a durable pull consumer with explicit acks, shared by every worker of
// the deployment. For the batch it:
//
//  1. decodes the envelopes; a payload that is not an envelope fails at once
//     (its status too, when its Nats-Msg-Id is a message_id);
//  2. marks each message processing in KV, but only once the batch has been
//     in hand for ProcessingAfter (500ms): a batch settled sooner writes
//     each KV record once, in 7, its history passing through processing;
//  3. opens one transaction and claims the messages: SELECT … FOR UPDATE
//     of the message_status rows that exist. A message whose row is
//     already completed is only acknowledged: this is what makes a
//     redelivery after a crash between commit and ack harmless. A new
//     message is claimed optimistically and gets its row once, in 5; if
//     another worker settled it meanwhile, 5 finds that row
//     (statusstore.ErrClaimLost), the transaction is rolled back and the
//     batch claimed again;
//  4. calls Handler.Handle with the others. A per-message permanent error
//     fails that message; a per-message transient error retries it. A
//     batch-level error rolls back: transient → every message is retried;
//     otherwise the batch is split in halves, each in its own transaction,
//     until the message that causes it is alone and failed;
//  5. writes the final message_status rows in the same transaction and
//     commits;
//  6. publishes the dead-letter copies of failed messages and waits for
//     JetStream to store them before terminating the originals, acks the
//     written ones, and NAKs the retried ones with their back-off;
//  7. sends the final statuses to KV (KV may trail; message_status is
//     authoritative). Each step of a batch is split by message_id over
//     KVConcurrency goroutines, each of which writes its part with one
//     pipelined statusstore.KV.UpdateMany: concurrent reads, then
//     compare-and-swap publishes awaited together; when the processing step
//     was written, the final one reuses its revisions and needs no read.
//
// Batches go through a pipeline: one goroutine fetches, another does steps
// 1-3 of a batch (its transaction begun and its rows claimed ahead) while a
// third does steps 4-7 of the batch before. With Concurrency 1 (the
// default) batches complete one at a time in the order fetched, so the
// entity writes of two batches of one worker never interleave; above 1,
// that many goroutines do steps 4-7, as that many workers would. A batch
// sharing a message with a batch in flight claims its rows only in its
// turn, and a claim held ahead is rolled back after 5s, so that no two
// transactions wait for each other through the pipeline. Up to
// Concurrency+2 batches are in flight per worker: MaxAckPending should
// allow it.
//
// Attempts: the attempt of a delivery is retry_count + the delivery count,
// so it keeps growing across redrives. MaxAttempts bounds the deliveries of
// one stream message: a redriven message gets a full budget again.
// Errors are classified by SQLSTATE (see errors.go). Environment errors
// (PostgreSQL unreachable or shutting down, out of resources, read-only, a
// missing table, column or privilege) are nobody's message's fault: the
// worker holds the batch in hand, kept in progress so no delivery is spent,
// and settles it again with back-off until the environment is fixed,
// saying what is wrong in its log, on /readyz and in nomnom_worker_paused;
// it fetches nothing meanwhile. Hold keeps a worker from fetching for a
// cause outside the messages (its database schema behind its binary) until
// Release, with its reason on /readyz. Transient errors (serialization failure,
// deadlock, lock and statement timeouts, timeouts) retry the batch's
// messages with their back-off and count as attempts. Only the message's
// own data errors are permanent. The sessions run with lock_timeout,
// statement_timeout and idle_in_transaction_session_timeout (see
// Config.ConfigurePool), so rows held by a frozen peer cost a transient
// error, never a stall, and the rows of a worker frozen mid-batch are
// released by PostgreSQL. While NATS is down the connection reconnects and
// the loop carries on.
//
// Dead-letter copies are bounded by construction: a copy that would exceed
// the server's max_payload (the gateway never publishes one) is cut and
// marked with Nomnom-Dlq-Truncated, so every message reaches failed.
//
// Stop stops fetching, finishes the batch in hand, flushes the KV writes and
// returns; when its context ends first the batch is abandoned unacknowledged
// and JetStream redelivers it after AckWait.
//
// # Middleware
//
// Config.Middleware wraps the handler, Watermill's way: a Middleware is a
// func(Handler) Handler, the first of the list outermost, called around
// every handler call inside the batch's transaction (the halves of a batch
// being split included). The runtime always puts Recoverer outside them
// all: a panic becomes a permanent batch-level error naming the panic, its
// stack is logged, the batch is split until the message that panics is
// alone, and that message fails and is dead-lettered with the panic as its
// reason while the others are written; the worker keeps running. The
// worker's logs and metrics (batches, outcomes, latency) measure the whole
// batch, commit and acknowledgements included, so they stay in the runtime
// rather than in a middleware around the handler.
//
// # Dead letters
//
// A failed message is copied to <prefix>.dlq.<entity> on the DLQ stream with
// its payload unchanged and the headers Nomnom-Dlq-Reason, -Attempts,
// -Failed-At and -Message-Id; its Nats-Msg-Id is "<message_id>:dlq:<retry_count>"
// so the copy re-published by a redelivery is stored once. Package dlq
// lists and redrives the copies.
//
// # Operations
//
// OpsHandler serves /livez (503 only when a restart helps: the NATS
// connection closed for good, or no progress for StallTimeout with no known
// cause), /readyz and /healthz (503 with the reason when NATS is
// disconnected, PostgreSQL unreachable, the worker paused or stalled) and
// /metrics: nomnom_worker_batches_total, nomnom_worker_messages_total{outcome},
// nomnom_worker_batch_duration_seconds, nomnom_worker_message_latency_seconds,
// nomnom_worker_redeliveries_total, nomnom_worker_consumer_pending_messages,
// nomnom_worker_consumer_ack_pending_messages,
// nomnom_worker_kv_write_errors_total, nomnom_worker_paused and
// nomnom_worker_environment_errors_total{sqlstate}. Start serves them on
// MetricsAddr.
package worker
