package bench

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestGeneratedBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		size int
		seq  int64
	}{
		{MinBodySize, 0}, {MinBodySize, 123456}, {256, 0}, {256, 99_999_999}, {4096, 7},
	}
	for _, tt := range tests {
		s := newBodySource(tt.size, nil)
		body := s.appendBody(nil, tt.seq)
		if len(body) != tt.size {
			t.Errorf("size %d seq %d: body is %d bytes: %s", tt.size, tt.seq, len(body), body)
		}
		var got struct {
			Seq int64  `json:"seq"`
			Pad string `json:"pad"`
		}
		if err := json.Unmarshal(body, &got); err != nil || got.Seq != tt.seq {
			t.Errorf("size %d seq %d: body %s decodes to %+v, %v", tt.size, tt.seq, body, got, err)
		}
	}
}

func TestGeneratedBodiesAreUnique(t *testing.T) {
	t.Parallel()
	s := newBodySource(64, nil)
	if a, b := s.appendBody(nil, 1), s.appendBody(nil, 2); bytes.Equal(a, b) {
		t.Errorf("two messages got the same body %s", a)
	}
}

func TestBatchIsNDJSONOfConsecutiveMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		lines [][]byte
		seq   int64
		n     int
		want  string
	}{
		{"cycled file", [][]byte{[]byte(`{"a":1}`), []byte(`{"a":2}`), []byte(`{"a":3}`)}, 2, 4,
			"{\"a\":3}\n{\"a\":1}\n{\"a\":2}\n{\"a\":3}\n"},
		{"one line", [][]byte{[]byte(`{"x":true}`)}, 0, 1, "{\"x\":true}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := newBodySource(0, tt.lines).appendBatch([]byte("keep:"), tt.seq, tt.n)
			if string(got) != "keep:"+tt.want {
				t.Errorf("batch = %q, want %q", got, "keep:"+tt.want)
			}
		})
	}
	gen := newBodySource(100, nil).appendBatch(nil, 10, 5)
	lines := bytes.Split(bytes.TrimSuffix(gen, []byte{'\n'}), []byte{'\n'})
	if len(lines) != 5 {
		t.Fatalf("generated batch has %d lines, want 5", len(lines))
	}
	for i, line := range lines {
		var m struct{ Seq int64 }
		if err := json.Unmarshal(line, &m); err != nil || m.Seq != int64(10+i) || len(line) != 100 {
			t.Errorf("line %d = %s (%d bytes), want seq %d of 100 bytes", i, line, len(line), 10+i)
		}
	}
}

func TestReadBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    int
		wantErr string
	}{
		{"objects and blank lines", "{\"a\":1}\n\n  {\"b\": [1,2]}  \r\n", 2, ""},
		{"no trailing newline", `{"a":1}`, 1, ""},
		{"array line", "{\"a\":1}\n[1]\n", 0, "line 2: not a JSON object"},
		{"broken json", "{\"a\":1}\n\n{\"a\":\n", 0, "line 3: not a JSON object"},
		{"empty", "\n\n", 0, "no JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadBodies(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != tt.want {
				t.Fatalf("got %d bodies, %v; want %d", len(got), err, tt.want)
			}
			for _, b := range got {
				if !json.Valid(b) || bytes.TrimSpace(b) == nil || b[len(b)-1] != '}' {
					t.Errorf("body %q not trimmed JSON", b)
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", time.Second}, {"2", 2 * time.Second}, {"0", 0}, {"nonsense", time.Second}, {"3600", maxRetryAfter},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.header); got != tt.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tt.header, got, tt.want)
		}
	}
}
