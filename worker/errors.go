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

// Errors fall in three classes, and only the last is the message's fault:
//
//   - environment: the database cannot take any message right now — it is
//     unreachable or shutting down (08xxx, 57P01-03), out of resources
//     (53xxx), read-only (25006), or the schema or the grants are not what
//     the handler expects (42P01 undefined table, 42703 undefined column,
//     42883 undefined function, 3F000 undefined schema, 42501 insufficient
//     privilege: a worker started before its migrations, a revoked grant).
//     The worker pauses with the batch in hand, retries it with back-off and
//     says what is wrong (log, health, metric); no message spends an
//     attempt on it (see Environmental).
//   - transient: this write lost a race that a retry can win — a
//     serialization failure or deadlock (40001, 40P01), a lock or statement
//     timeout (55P03, 57014; a stuck peer holds the rows), a timeout. The
//     message is retried after its back-off and the attempt counts.
//   - permanent: anything else, such as invalid values (22xxx), constraint
//     violations of the message's own data (23xxx), decode errors, or an
//     error marked with Permanent. The message fails and is dead-lettered.

// IsTransient reports whether err may go away on its own, so the message is
// retried rather than failed: an environment error (see Environmental), a
// serialization failure or deadlock, a lock or statement timeout, a
// timeout. An error marked with Permanent is never transient.
func IsTransient(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	if Environmental(err) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || pgconn.Timeout(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "40001", "40P01", "55P03", "57014": // serialization, deadlock, lock not available, statement timeout or cancel
			return true
		}
	}
	return false
}

// Environmental reports whether err says the database cannot take any
// message right now, whatever the message: the worker then pauses instead
// of spending the messages' attempts. An error marked with Permanent never
// is.
func Environmental(err error) bool {
	if err == nil || IsPermanent(err) {
		return false
	}
	if unavailable(err) {
		return true
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return false
	}
	switch pgErr.Code {
	case "42P01", "42703", "42883", "3F000", "42501", "25006":
		return true
	}
	return strings.HasPrefix(pgErr.Code, "53")
}

// environmentProblem names what is wrong with the environment in words an
// operator acts on, with the SQLSTATE when there is one.
func environmentProblem(err error) (problem, sqlstate string) {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return "postgres unreachable: " + err.Error(), "connection"
	}
	code := pgErr.Code
	switch {
	case code == "42P01" || code == "42703" || code == "42883" || code == "3F000":
		problem = "schema not as the handler expects (migrations not applied?)"
	case code == "42501":
		problem = "insufficient privilege"
	case code == "25006":
		problem = "database is read-only"
	case strings.HasPrefix(code, "53"):
		problem = "database out of resources"
	default:
		problem = "database unavailable"
	}
	return problem + ": " + pgErr.Message + " (SQLSTATE " + code + ")", code
}

// unavailable reports whether err says PostgreSQL cannot be reached at all.
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
