package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/nomnom-io/nomnom/internal/envflag"
	"github.com/nomnom-io/nomnom/statusstore"
)

// apiSettings reach a running gateway's HTTP API.
type apiSettings struct {
	url    string
	apiKey string
}

func (s *apiSettings) define(f *envflag.Set) {
	f.String(&s.url, "gateway-url", "NOMNOM_GATEWAY_URL", "http://localhost:8080", "the gateway's base URL")
	f.Secret(&s.apiKey, "api-key", "NOMNOM_API_KEY", "", "API key of the tenant to act as (when the gateway has keys)")
}

// get fetches path from the gateway and decodes its JSON answer into v; an
// error answer becomes an error with the gateway's message.
func (s *apiSettings) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.url, "/")+path, nil)
	if err != nil {
		return fmt.Errorf("gateway URL %q: %w", s.url, err)
	}
	if s.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+s.apiKey)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("gateway at %s: %w", s.url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("gateway at %s: %w", s.url, err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if json.Unmarshal(data, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("gateway answered %d: %s", res.StatusCode, e.Error.Message)
		}
		return fmt.Errorf("gateway answered %d", res.StatusCode)
	}
	return json.Unmarshal(data, v)
}

const statusUsage = `usage: nomnom status MESSAGE_ID [--wait DURATION] [--json] [flags]

Print a message's status record, as GET /ingest/status/{id} answers it;
with --wait, once it is terminal or the wait ends.

flags:
`

// runStatus is `nomnom status`.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		api    apiSettings
		wait   time.Duration
		asJSON bool
	)
	f := envflag.New("status")
	api.define(f)
	f.DurationVar(&wait, "wait", 0, "hold until the status is terminal, at most this long (the gateway caps it)")
	f.BoolVar(&asJSON, "json", false, "print the record as JSON")
	f.SetOutput(envflag.Output(stderr))
	f.Usage = func() { fmt.Fprint(f.Output(), statusUsage); f.PrintDefaults() }
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() != 1 {
		f.Usage()
		return envflag.ErrUsage
	}
	path := "/ingest/status/" + url.PathEscape(f.Arg(0))
	if wait > 0 {
		path += "?wait=" + wait.String()
	}
	var rec statusstore.Record
	if err := api.get(ctx, path, &rec); err != nil {
		return err
	}
	if asJSON {
		return printJSON(stdout, rec)
	}
	return printRecords(stdout, []statusstore.Record{rec})
}

const messagesUsage = `usage: nomnom messages [--status S] [--entity E] [--source S] [--since T] [--until T]
                       [--error TEXT] [--limit N] [--all] [--json] [flags]

List status records newest first, as GET /ingest/messages answers them
(the gateway needs its database). --all follows next_cursor to the end.

flags:
`

// runMessages is `nomnom messages`.
func runMessages(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var (
		api         apiSettings
		q           = url.Values{}
		limit       int
		all, asJSON bool
	)
	f := envflag.New("messages")
	api.define(f)
	for _, fl := range []struct{ name, usage string }{
		{"status", "only records in this status (accepted, processing, retrying, completed, failed)"},
		{"entity", "only records of this entity type"},
		{"source", "only records of this source"},
		{"since", "only records received at or after this RFC 3339 time"},
		{"until", "only records received before this RFC 3339 time"},
		{"error", "only records whose error contains this text"},
	} {
		f.Func(fl.name, fl.usage, func(v string) error {
			q.Set(fl.name, v)
			return nil
		})
	}
	f.IntVar(&limit, "limit", 50, "records a page (1 to 500)")
	f.BoolVar(&all, "all", false, "every page, not only the first")
	f.BoolVar(&asJSON, "json", false, "print JSON: the records as an array")
	f.SetOutput(envflag.Output(stderr))
	f.Usage = func() { fmt.Fprint(f.Output(), messagesUsage); f.PrintDefaults() }
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		f.Usage()
		return envflag.ErrUsage
	}
	q.Set("limit", fmt.Sprint(limit))
	var recs []statusstore.Record
	for {
		var page struct {
			Messages   []statusstore.Record `json:"messages"`
			NextCursor *string              `json:"next_cursor"`
		}
		if err := api.get(ctx, "/ingest/messages?"+q.Encode(), &page); err != nil {
			return err
		}
		recs = append(recs, page.Messages...)
		if !all || page.NextCursor == nil {
			break
		}
		q.Set("cursor", *page.NextCursor)
	}
	if asJSON {
		if recs == nil {
			recs = []statusstore.Record{}
		}
		return printJSON(stdout, recs)
	}
	return printRecords(stdout, recs)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printRecords prints records as a table, with a count.
func printRecords(w io.Writer, recs []statusstore.Record) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "MESSAGE_ID\tSTATUS\tENTITY\tSOURCE\tATTEMPTS\tRECEIVED_AT\tERROR")
	for _, r := range recs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\n", r.MessageID, r.Status, deref(r.EntityType), deref(r.Source),
			r.Attempts, r.ReceivedAt.Format(time.RFC3339), r.Error)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "%d message(s)\n", len(recs))
	return err
}

func deref(s *string) string {
	if s == nil || *s == "" {
		return "-"
	}
	return *s
}
