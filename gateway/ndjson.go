package gateway

import (
	"bytes"
	"fmt"
)

// ndjsonLine is one non-blank line of an NDJSON body, with its 1-based line
// number in the body (blank lines count, so numbers match the client's file).
type ndjsonLine struct {
	n    int
	data []byte
}

// tooManyLinesError says a batch has more non-blank lines than allowed.
type tooManyLinesError struct{ max int }

func (e tooManyLinesError) Error() string {
	return fmt.Sprintf("batch has more than %d lines", e.max)
}

// splitNDJSON splits body into its non-blank lines, trimmed of surrounding
// white space (so CRLF bodies work), without copying. It stops with a
// tooManyLinesError as soon as there are more than maxLines.
func splitNDJSON(body []byte, maxLines int) ([]ndjsonLine, error) {
	lines := make([]ndjsonLine, 0, min(bytes.Count(body, []byte{'\n'})+1, maxLines+1))
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		if len(lines) == maxLines {
			return nil, tooManyLinesError{max: maxLines}
		}
		lines = append(lines, ndjsonLine{n: n, data: line})
	}
	return lines, nil
}
