package gateway

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Error codes of the {"error":{"code","message"}} body; clients branch on
// them, so they never change meaning.
const (
	codeInvalidJSON        = "invalid_json"
	codeNotObject          = "not_an_object"
	codeEmptyBody          = "empty_body"
	codeTooLarge           = "payload_too_large"
	codeTooManyLines       = "too_many_lines"
	codeUnsupportedMedia   = "unsupported_media_type"
	codeInvalidEntityType  = "invalid_entity_type"
	codeInvalidIdempotency = "invalid_idempotency_key"
	codeInvalidSource      = "invalid_source"
	codeInvalidMessageID   = "invalid_message_id"
	codeInvalidWait        = "invalid_wait"
	codeNoValidLines       = "no_valid_lines"
	codeUnauthorized       = "unauthorized"
	codeNotFound           = "not_found"
	codeMethodNotAllowed   = "method_not_allowed"
	codeTooManyRequests    = "too_many_requests"
	codeUnavailable        = "unavailable"
	codeBusy               = "busy"
	codeTimeout            = "request_timeout"
	codeInternal           = "internal"
	codeInvalidParameter   = "invalid_parameter"
	codeNotConfigured      = "not_configured"
)

// apiError is an answer that is not a success: its status, code and a
// message for humans.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errorf(status int, code, message string) *apiError {
	return &apiError{status: status, code: code, message: message}
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// writeJSON answers v as JSON with the status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers e as the error body of the README's "HTTP API" section.
func writeError(w http.ResponseWriter, e *apiError) {
	var b errorBody
	b.Error.Code, b.Error.Message = e.code, e.message
	writeJSON(w, e.status, b)
}

// setRetryAfter tells the client when to retry a 429 or 503, in whole seconds.
func setRetryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, errorf(http.StatusNotFound, codeNotFound, "no such endpoint"))
}
