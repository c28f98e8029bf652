package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client calls one gateway. Its methods are safe for concurrent use.
type Client struct {
	base          string
	apiKey        string
	http          *http.Client
	maxRetries    int
	maxRetryDelay time.Duration
}

// Option adjusts a Client made by New.
type Option func(*Client)

// WithAPIKey authenticates every request as the key's tenant, for a
// gateway that has API keys.
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithHTTPClient sends the requests through hc instead of
// http.DefaultClient, for its transport, proxy or TLS settings. Keep its
// Timeout longer than any Wait, or zero.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithRetries sets how many times an answer of 429 or 503 is retried (3
// unless set; 0 turns retries off) and the longest wait between two tries,
// whatever Retry-After says (30s unless set).
func WithRetries(n int, maxDelay time.Duration) Option {
	return func(c *Client) { c.maxRetries, c.maxRetryDelay = n, maxDelay }
}

// New returns a client of the gateway at baseURL, such as
// "http://localhost:8080".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("nomnom: gateway URL %q is not an http(s) URL with a host", baseURL)
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), http: http.DefaultClient, maxRetries: 3, maxRetryDelay: 30 * time.Second}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// request is one call: its method, path (with query), body and headers.
// A body that is an io.ReadSeeker is rewound for a retry; any other
// io.Reader is sent once.
type request struct {
	method, path string
	body         io.Reader
	header       http.Header
}

// do sends req, retrying 429 and 503 after their Retry-After, and returns
// the answer of status want with its body unread; the caller closes it.
// Any other answer becomes an *Error.
func (c *Client) do(ctx context.Context, req request, want ...int) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		res, err := c.send(ctx, req)
		if err != nil {
			return nil, err
		}
		for _, w := range want {
			if res.StatusCode == w {
				return res, nil
			}
		}
		apiErr := readError(req, res)
		if !retryable(res.StatusCode) || attempt >= c.maxRetries || !rewind(req.body) {
			return nil, apiErr
		}
		if err := sleep(ctx, c.retryDelay(apiErr.RetryAfter, attempt)); err != nil {
			return nil, apiErr
		}
	}
}

func (c *Client) send(ctx context.Context, req request) (*http.Response, error) {
	hr, err := http.NewRequestWithContext(ctx, req.method, c.base+req.path, req.body)
	if err != nil {
		return nil, fmt.Errorf("nomnom: %s %s: %w", req.method, req.path, err)
	}
	for k, v := range req.header {
		hr.Header[k] = v
	}
	if c.apiKey != "" {
		hr.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	res, err := c.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("nomnom: %s %s%s: %w", req.method, c.base, req.path, err)
	}
	return res, nil
}

// rewind readies a body for another try: nothing to do without one, a
// seek to its start for an io.ReadSeeker, impossible for other readers.
func rewind(body io.Reader) bool {
	if body == nil {
		return true
	}
	s, ok := body.(io.Seeker)
	if !ok {
		return false
	}
	_, err := s.Seek(0, io.SeekStart)
	return err == nil
}

// retryDelay is the wait before retry number attempt+1: the gateway's
// Retry-After, or a doubling delay from 250ms without one, capped.
func (c *Client) retryDelay(retryAfter time.Duration, attempt int) time.Duration {
	d := retryAfter
	if d <= 0 {
		d = 250 * time.Millisecond << min(attempt, 8)
	}
	return min(d, c.maxRetryDelay)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// readError turns an answer that is not the one wanted into an *Error,
// reading the {"error":{"code","message"}} body when there is one.
func readError(req request, res *http.Response) *Error {
	defer res.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	e := &Error{StatusCode: res.StatusCode, Method: req.method, Path: req.path, RetryAfter: parseRetryAfter(res.Header.Get("Retry-After"))}
	var body struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if json.Unmarshal(data, &body) == nil {
		e.Code, e.Message = body.Error.Code, body.Error.Message
	}
	return e
}

// parseRetryAfter reads Retry-After in either of its forms: seconds or an
// HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// getJSON fetches path and decodes its 200 answer into v.
func (c *Client) getJSON(ctx context.Context, path string, v any) error {
	res, err := c.do(ctx, request{method: http.MethodGet, path: path}, http.StatusOK)
	if err != nil {
		return err
	}
	return decode(res, v)
}

// postJSON posts in as JSON and decodes the answer of status want into out.
func (c *Client) postJSON(ctx context.Context, path string, in, out any, want int) error {
	data, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("nomnom: POST %s: encode the body: %w", path, err)
	}
	req := request{method: http.MethodPost, path: path, body: bytes.NewReader(data), header: http.Header{"Content-Type": {"application/json"}}}
	res, err := c.do(ctx, req, want)
	if err != nil {
		return err
	}
	return decode(res, out)
}

func decode(res *http.Response, v any) error {
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(v); err != nil {
		return fmt.Errorf("nomnom: %s %s: decode the answer: %w", res.Request.Method, res.Request.URL.Path, err)
	}
	return nil
}
