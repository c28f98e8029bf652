package bench

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency is a histogram's summary. In JSON and CSV every duration is in
// milliseconds, the unit people compare latencies in.
type Latency struct {
	Count uint64
	Min   time.Duration
	Mean  time.Duration
	P50   time.Duration
	P90   time.Duration
	P99   time.Duration
	P999  time.Duration
	Max   time.Duration
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

type latencyJSON struct {
	Count uint64  `json:"count"`
	Min   float64 `json:"min_ms"`
	Mean  float64 `json:"mean_ms"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	P999  float64 `json:"p999_ms"`
	Max   float64 `json:"max_ms"`
}

// MarshalJSON writes the durations in milliseconds.
func (l Latency) MarshalJSON() ([]byte, error) {
	return json.Marshal(latencyJSON{l.Count, ms(l.Min), ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.P999), ms(l.Max)})
}

// E2E is what an end-to-end run measured after the 202s, from the status
// records themselves, so that when the client looked does not matter.
type E2E struct {
	// Completed, Failed and Lost partition the accepted messages: lost ones
	// were not terminal (or not found) when the follow timeout passed.
	Completed int64 `json:"completed"`
	Failed    int64 `json:"failed"`
	Lost      int64 `json:"lost"`
	// Latency is received_at → completed_at of each completed record.
	Latency Latency `json:"latency"`
	// Span is from the first received_at to the last completed_at, and
	// PerSec is Completed over it: the rate the whole pipeline sustained.
	Span   time.Duration `json:"-"`
	PerSec float64       `json:"completed_per_s"`
	// Rows sums the entity rows the completed records say were written, and
	// RowsPerSec is Rows over Span: the workers' write rate.
	Rows       int64   `json:"rows"`
	RowsPerSec float64 `json:"rows_per_s"`
}

// Report is the outcome of a run.
type Report struct {
	Mode        Mode   `json:"mode"`
	URL         string `json:"url"`
	Concurrency int    `json:"concurrency"`
	// Rate is the fixed rate asked for, 0 for as fast as possible.
	Rate      int `json:"rate"`
	BatchSize int `json:"batch_size"`
	// BodyBytes is the mean size of the message bodies sent.
	BodyBytes int `json:"body_bytes"`
	// Duration is the posting phase, from the first request to the last
	// answer.
	Duration time.Duration `json:"-"`
	Requests int64         `json:"requests"`
	// Sent counts messages posted; Accepted those the gateway accepted (for
	// a batch, the lines that got a message_id); Rejected the lines of 202
	// batches that got an error instead.
	Sent     int64 `json:"sent"`
	Accepted int64 `json:"accepted"`
	Rejected int64 `json:"rejected"`
	// Errors counts requests not answered 202, by status code, with
	// "transport" for those that got no answer at all.
	Errors map[string]int64 `json:"errors"`
	// MsgsPerSec is Accepted over Duration.
	MsgsPerSec     float64 `json:"msgs_per_s"`
	RequestsPerSec float64 `json:"requests_per_s"`
	// Latency is each request's time to its 202, from its scheduled start
	// when Rate is set.
	Latency Latency `json:"latency"`
	// E2E is set in e2e mode.
	E2E *E2E `json:"e2e,omitempty"`
}

// ErrorCount is the number of requests not answered 202.
func (r Report) ErrorCount() int64 {
	var n int64
	for _, c := range r.Errors {
		n += c
	}
	return n
}

// JSON returns the report as indented JSON, durations in seconds
// (duration_s, e2e.span_s) and milliseconds (latencies).
func (r Report) JSON() ([]byte, error) {
	type plain Report
	out := struct {
		plain
		DurationS float64 `json:"duration_s"`
		E2E       any     `json:"e2e,omitempty"`
	}{plain: plain(r), DurationS: r.Duration.Seconds()}
	if r.E2E != nil {
		out.E2E = struct {
			*E2E
			SpanS float64 `json:"span_s"`
		}{r.E2E, r.E2E.Span.Seconds()}
	}
	return json.MarshalIndent(out, "", "  ")
}

// csvHeader names the columns of WriteCSV.
var csvHeader = []string{
	"mode", "url", "concurrency", "rate", "batch_size", "body_bytes", "duration_s",
	"requests", "sent", "accepted", "rejected", "errors", "msgs_per_s", "requests_per_s",
	"p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms",
	"e2e_completed", "e2e_failed", "e2e_lost", "e2e_per_s", "e2e_rows", "e2e_rows_per_s",
	"e2e_p50_ms", "e2e_p90_ms", "e2e_p99_ms", "e2e_p999_ms", "e2e_max_ms",
}

// WriteCSV writes the report as one CSV row, after a header row when header
// is true, so that runs can be appended to one file and compared.
func (r Report) WriteCSV(w io.Writer, header bool) error {
	cw := csv.NewWriter(w)
	if header {
		_ = cw.Write(csvHeader)
	}
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', 3, 64) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	row := []string{
		string(r.Mode), r.URL, i(int64(r.Concurrency)), i(int64(r.Rate)), i(int64(r.BatchSize)),
		i(int64(r.BodyBytes)), f(r.Duration.Seconds()),
		i(r.Requests), i(r.Sent), i(r.Accepted), i(r.Rejected), r.errorsText(), f(r.MsgsPerSec), f(r.RequestsPerSec),
		f(ms(r.Latency.P50)), f(ms(r.Latency.P90)), f(ms(r.Latency.P99)), f(ms(r.Latency.P999)), f(ms(r.Latency.Max)),
	}
	if e := r.E2E; e != nil {
		row = append(row, i(e.Completed), i(e.Failed), i(e.Lost), f(e.PerSec), i(e.Rows), f(e.RowsPerSec),
			f(ms(e.Latency.P50)), f(ms(e.Latency.P90)), f(ms(e.Latency.P99)), f(ms(e.Latency.P999)), f(ms(e.Latency.Max)))
	} else {
		row = append(row, make([]string, 11)...)
	}
	_ = cw.Write(row)
	cw.Flush()
	return cw.Error()
}

// errorsText is Errors as "code:count" pairs in code order, "" for none.
func (r Report) errorsText() string {
	parts := make([]string, 0, len(r.Errors))
	for _, code := range slices.Sorted(maps.Keys(r.Errors)) {
		parts = append(parts, fmt.Sprintf("%s:%d", code, r.Errors[code]))
	}
	return strings.Join(parts, " ")
}

// WriteText writes the report for a person to read.
func (r Report) WriteText(w io.Writer) error {
	rate := "max"
	if r.Rate > 0 {
		rate = fmt.Sprintf("%d msgs/s", r.Rate)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "nomnom bench %s → %s\n", r.Mode, r.URL)
	fmt.Fprintf(&b, "  connections %d, rate %s, batch %d, body %d B\n", r.Concurrency, rate, r.BatchSize, r.BodyBytes)
	fmt.Fprintf(&b, "  %d requests, %d messages sent, %d accepted, %d rejected in %s\n",
		r.Requests, r.Sent, r.Accepted, r.Rejected, r.Duration.Round(time.Millisecond))
	if len(r.Errors) > 0 {
		fmt.Fprintf(&b, "  errors (status:count): %s\n", r.errorsText())
	}
	fmt.Fprintf(&b, "  throughput %.0f msgs/s, %.0f requests/s\n", r.MsgsPerSec, r.RequestsPerSec)
	fmt.Fprintf(&b, "  202 latency    %s\n", r.Latency.text())
	if e := r.E2E; e != nil {
		fmt.Fprintf(&b, "  end to end: %d completed, %d failed, %d lost; %.0f completed/s over %s\n",
			e.Completed, e.Failed, e.Lost, e.PerSec, e.Span.Round(time.Millisecond))
		fmt.Fprintf(&b, "  entity rows written: %d, %.0f rows/s\n", e.Rows, e.RowsPerSec)
		fmt.Fprintf(&b, "  accepted→completed %s\n", e.Latency.text())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (l Latency) text() string {
	r := func(d time.Duration) string { return d.Round(time.Microsecond).String() }
	return fmt.Sprintf("p50 %s  p90 %s  p99 %s  p99.9 %s  max %s", r(l.P50), r(l.P90), r(l.P99), r(l.P999), r(l.Max))
}
