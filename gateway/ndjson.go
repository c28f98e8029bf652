package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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

// splitBatch splits a batch body into its lines: the elements of a JSON
// array when a JSON content type (or none) sends a body that is one valid
// array, numbered from 1, and otherwise the lines of NDJSON (so NDJSON whose
// first line is an array, or a broken array, is reported line by line).
// Too many lines is 413.
func splitBatch(body []byte, kind mediaKind, maxLines int) ([]ndjsonLine, *apiError) {
	var (
		lines []ndjsonLine
		err   error
	)
	trimmed := bytes.TrimSpace(body)
	if kind == mediaJSON && len(trimmed) > 0 && trimmed[0] == '[' && json.Valid(trimmed) {
		lines, err = splitArray(trimmed, maxLines)
	} else {
		lines, err = splitNDJSON(body, maxLines)
	}
	var tooMany tooManyLinesError
	switch {
	case errors.As(err, &tooMany):
		return nil, errorf(http.StatusRequestEntityTooLarge, codeTooManyLines, err.Error()+"; split it into several requests")
	case err != nil:
		return nil, errorf(http.StatusBadRequest, codeInvalidJSON, "invalid JSON array: "+err.Error())
	}
	return lines, nil
}

// splitArray splits a valid JSON array into its elements, without copying
// them.
func splitArray(body []byte, maxLines int) ([]ndjsonLine, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	var lines []ndjsonLine
	for n := 1; dec.More(); n++ {
		if len(lines) == maxLines {
			return nil, tooManyLinesError{max: maxLines}
		}
		start := dec.InputOffset()
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, err
		}
		elem := bytes.TrimLeft(body[start:dec.InputOffset()], " \t\r\n,")
		lines = append(lines, ndjsonLine{n: n, data: elem})
	}
	return lines, nil
}
