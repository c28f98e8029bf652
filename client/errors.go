package client

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Sentinel errors an *Error matches with errors.Is, by the answer's status.
var (
	ErrInvalid       = errors.New("nomnom: invalid request")        // 400
	ErrUnauthorized  = errors.New("nomnom: unauthorized")           // 401
	ErrNotFound      = errors.New("nomnom: not found")              // 404
	ErrTooLarge      = errors.New("nomnom: payload too large")      // 413
	ErrUnsupported   = errors.New("nomnom: unsupported media type") // 415
	ErrRateLimited   = errors.New("nomnom: rate limited")           // 429
	ErrUnavailable   = errors.New("nomnom: gateway unavailable")    // 503
	ErrNotConfigured = errors.New("nomnom: feature not configured") // 501, or the not_configured code
)

// Error is an answer of the gateway that is not a success: its HTTP
// status, the error body's code and message, and, for 429 and 503, how
// long the gateway asked the client to wait (after the client's own
// retries ran out).
type Error struct {
	StatusCode int
	Code       string
	Message    string
	RetryAfter time.Duration
	// Method and Path name the request that failed.
	Method, Path string
}

func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	if e.Code != "" {
		msg = e.Code + ": " + msg
	}
	return fmt.Sprintf("nomnom: %s %s: %d %s", e.Method, e.Path, e.StatusCode, msg)
}

// Is matches the sentinel error of e's status, so callers can write
// errors.Is(err, client.ErrRateLimited).
func (e *Error) Is(target error) bool {
	switch target {
	case ErrInvalid:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrTooLarge:
		return e.StatusCode == http.StatusRequestEntityTooLarge
	case ErrUnsupported:
		return e.StatusCode == http.StatusUnsupportedMediaType
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrUnavailable:
		return e.StatusCode == http.StatusServiceUnavailable
	case ErrNotConfigured:
		return e.StatusCode == http.StatusNotImplemented || e.Code == "not_configured"
	}
	return false
}

// RetryDelay returns how long the gateway asked to wait before a retry,
// when err is a 429 or 503 answer that said so.
func RetryDelay(err error) (time.Duration, bool) {
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		return e.RetryAfter, true
	}
	return 0, false
}

// retryable reports whether an answer's status is worth a retry: the
// gateway could not take the request now but may soon.
func retryable(status int) bool {
	return status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable
}
