package worker

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// IsTransient reports whether err may go away on its own, so the message is
// retried after a back-off rather than failed: PostgreSQL unreachable or
// restarting, a serialization failure or deadlock, a timeout. An error
// marked with Permanent is never transient.
func IsTransient(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	if unavailable(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "55P03", "57014": // serialization, deadlock, lock not available, query cancelled
			return true
		}
		// 53xxx: insufficient resources (too many connections, disk full).
		return strings.HasPrefix(pgErr.Code, "53")
	}
	return false
}

// unavailable reports whether err says PostgreSQL cannot be reached at all:
// the worker then waits for it before fetching more messages, so an outage
// does not burn every message's attempts.
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P01", "57P02", "57P03": // admin shutdown, crash shutdown, cannot connect now
			return true
		}
		return strings.HasPrefix(pgErr.Code, "08")
	}
	var connectErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connectErr) ||
		errors.As(err, &netErr) ||
		pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE)
}
