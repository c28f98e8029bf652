package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// bodySource produces message bodies: generated ones of a fixed size with a
// unique sequence number (so no two are alike, as in real traffic), or the
// caller's own cycled in order.
type bodySource struct {
	size  int
	lines [][]byte
	pad   []byte
}

func newBodySource(size int, lines [][]byte) *bodySource {
	return &bodySource{size: size, lines: lines, pad: bytes.Repeat([]byte{'x'}, size)}
}

// appendBody appends the body of message seq to dst.
func (s *bodySource) appendBody(dst []byte, seq int64) []byte {
	if len(s.lines) > 0 {
		return append(dst, s.lines[seq%int64(len(s.lines))]...)
	}
	start := len(dst)
	dst = append(dst, `{"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	dst = append(dst, `,"pad":"`...)
	pad := s.size - (len(dst) - start) - len(`"}`)
	dst = append(dst, s.pad[:max(pad, 0)]...)
	return append(dst, `"}`...)
}

// appendBatch appends an NDJSON body of the n messages from seq on to dst,
// one a line, each line ending in a newline.
func (s *bodySource) appendBatch(dst []byte, seq int64, n int) []byte {
	for i := range int64(n) {
		dst = s.appendBody(dst, seq+i)
		dst = append(dst, '\n')
	}
	return dst
}

// ReadBodies reads NDJSON message bodies for Config.Bodies: one JSON object
// a line, blank lines skipped. It refuses anything else up front, naming the
// line, so that a bad file fails the run before it starts rather than
// showing up as thousands of 400s.
func ReadBodies(r io.Reader) ([][]byte, error) {
	var out [][]byte
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if line[0] != '{' || !json.Valid(line) {
			return nil, fmt.Errorf("line %d: not a JSON object", n)
		}
		out = append(out, bytes.Clone(line))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read bodies: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read bodies: no JSON object found")
	}
	return out, nil
}
