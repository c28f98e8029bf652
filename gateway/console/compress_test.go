package console

import (
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestCompressGzipsWhenAccepted serves the embedded stylesheet through
// compress: gzip when the client accepts it, with no length or ranges of
// the uncompressed file, and plain otherwise; both vary with
// Accept-Encoding.
func TestCompressGzipsWhenAccepted(t *testing.T) {
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		t.Fatal(err)
	}
	want, err := fs.ReadFile(static, "app.css")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(compress(http.FileServerFS(static)))
	defer srv.Close()
	get := func(header map[string]string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/app.css", nil)
		for k, v := range header {
			req.Header.Set(k, v)
		}
		// A transport of its own, so Go's client neither asks for nor
		// undoes gzip by itself.
		res, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		return res
	}

	res := get(map[string]string{"Accept-Encoding": "br;q=1.0, gzip;q=0.8", "Range": "bytes=0-9"})
	if res.StatusCode != http.StatusOK {
		t.Fatalf("gzip: status %d, want 200 (the range of the uncompressed file is ignored)", res.StatusCode)
	}
	// net/http may set the compressed answer's own length; never the file's.
	if res.Header.Get("Content-Encoding") != "gzip" || res.Header.Get("Content-Length") == strconv.Itoa(len(want)) || res.Header.Get("Accept-Ranges") != "" {
		t.Errorf("gzip: Content-Encoding %q, Content-Length %q, Accept-Ranges %q; want gzip, no uncompressed length and no ranges",
			res.Header.Get("Content-Encoding"), res.Header.Get("Content-Length"), res.Header.Get("Accept-Ranges"))
	}
	if !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("gzip: Vary %q, want Accept-Encoding", res.Header.Get("Vary"))
	}
	zr, err := gzip.NewReader(res.Body)
	if err != nil {
		t.Fatalf("gzip: body is not gzip: %v", err)
	}
	got, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gzip: reading the body: %v", err)
	}
	if string(got) != string(want) {
		t.Errorf("gzip: the body decompresses to %d bytes, want app.css's %d", len(got), len(want))
	}
	if !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("gzip: Content-Type %q, want text/css", res.Header.Get("Content-Type"))
	}

	for name, header := range map[string]map[string]string{
		"no Accept-Encoding": {},
		"gzip refused":       {"Accept-Encoding": "gzip;q=0, identity"},
	} {
		res := get(header)
		body, _ := io.ReadAll(res.Body)
		if res.Header.Get("Content-Encoding") != "" || string(body) != string(want) {
			t.Errorf("%s: Content-Encoding %q and %d bytes, want app.css as it is", name, res.Header.Get("Content-Encoding"), len(body))
		}
		if !strings.Contains(res.Header.Get("Vary"), "Accept-Encoding") {
			t.Errorf("%s: Vary %q, want Accept-Encoding", name, res.Header.Get("Vary"))
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                  false,
		"gzip":              true,
		"GZIP":              true,
		"deflate, gzip":     true,
		"gzip;q=0":          false,
		"gzip; q=0.5":       true,
		"*":                 true,
		"br, identity":      false,
		"gzip;q=0, *;q=0.1": true,
	} {
		if got := acceptsGzip([]string{header}); got != want {
			t.Errorf("Accept-Encoding %q: %v, want %v", header, got, want)
		}
	}
}
