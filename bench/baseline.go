package bench

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// BaselineHandler answers POST /ingest/message and POST /ingest/batch the
// way the gateway does, with 202 and the same JSON shape, but with nothing
// behind it: no JetStream, no status record. Benchmarked on the same machine
// as the gateway, it is the floor of what any HTTP ingest can cost there, so
// the gateway's numbers can be read as a ratio of it.
func BaselineHandler() http.Handler {
	var seq atomic.Uint64
	id := func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012x", seq.Add(1)) }
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ingest/message", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		writeAccepted(w, fmt.Sprintf(`{"message_id":%q,"status":"accepted","timestamp":%q}`,
			id(), time.Now().UTC().Format(time.RFC3339Nano)))
	})
	mux.HandleFunc("POST /ingest/batch", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var results bytes.Buffer
		n := 0
		for i, line := range bytes.Split(body, []byte{'\n'}) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			if n > 0 {
				results.WriteByte(',')
			}
			n++
			fmt.Fprintf(&results, `{"line":%d,"message_id":%q}`, i+1, id())
		}
		writeAccepted(w, `{"status":"success","processed":`+strconv.Itoa(n)+`,"inserted":`+strconv.Itoa(n)+
			`,"failed":0,"errors":[],"duration_ms":0,"results":[`+results.String()+`]}`)
	})
	return mux
}

func writeAccepted(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusAccepted)
	_, _ = io.WriteString(w, body)
}
