// Package dlq is the administration of nomnom's dead-letter stream: List
// reads the dead-lettered messages and Redrive puts them back on the main
// stream. The worker writes the copies (see package worker, "Dead letters");
// this package only reads and removes them, so both command lines (`nomnom
// dlq`, `<worker> dlq`) and an HTTP endpoint can share it.
//
// A redrive moves the message's status record(s) from failed back to
// accepted (history kept), republishes the envelope with the same message_id
// and retry_count = attempts so far, waits for JetStream to store it, then
// deletes the copy. Every step can be repeated: an interrupted redrive is
// run again, and the republish carries a Nats-Msg-Id
// ("<message_id>:r<retry_count>") that de-duplicates it.
//
// The loop guard (RedriveOptions.MaxRedrives, DefaultMaxRedrives) is one
// rule for every caller: a message whose failed status record counts that
// many redrives already stays failed, its copy stays in the DLQ, and its
// outcome is OutcomeCapped.
//
// This package never reads the environment, never writes entity rows and
// never moves a completed record: a copy whose message completed since is
// only removed.
package dlq
