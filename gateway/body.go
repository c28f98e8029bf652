package gateway

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/nomnom-io/nomnom/wire"
)

// Request bodies are read under three bounds, none of which a client
// chooses: the body limit (413 beyond it; for one message it is also bounded
// by what the NATS server accepts, see messageLimit), the body read timeout
// (408 when the body has not arrived in time) and the gateway-wide budget of
// body bytes held in memory (503 with Retry-After while it is spent). The
// buffer grows with the bytes that arrive, never from Content-Length, so a
// client announcing a large body and sending it slowly holds only what it
// sent, and only until the read timeout.

// minBodyRead is the smallest buffer a body is read into, and the smallest
// step it grows by.
const minBodyRead = 4 << 10

// bodyPool recycles the buffers request bodies are read into: a body is
// copied into its envelope before the handler returns, so its buffer can
// serve the next request. Buffers that grew past maxPooledBuffer are left to
// the garbage collector, so one large batch does not stay pinned.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, minBodyRead); return &b }}

const maxPooledBuffer = 256 << 10

// byteBudget bounds the bytes of request bodies held in memory at once,
// across all requests.
type byteBudget struct {
	mu   sync.Mutex
	used int64
	max  int64
}

func (b *byteBudget) tryAcquire(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.used+n > b.max {
		return false
	}
	b.used += n
	return true
}

func (b *byteBudget) release(n int64) {
	b.mu.Lock()
	b.used -= n
	b.mu.Unlock()
}

// messageLimit is the largest body of one message: Config.MaxBodyBytes, and
// never more than the NATS server's max_payload leaves beside the envelope,
// its headers and the headers of its dead-letter copy, so that every message
// accepted can be stored, and dead-lettered, whole.
func (s *Server) messageLimit() int64 {
	limit := s.cfg.MaxBodyBytes
	if mp := s.nc.MaxPayload(); mp > 0 {
		limit = min(limit, wire.MaxBodyBytes(mp))
	}
	return limit
}

// readBody reads the whole body, refusing with 413 one larger than limit as
// soon as it is known to be. The bytes are valid until done is called, which
// the caller must do (also after an error): it returns the buffer to the pool
// and its bytes to the budget.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, done func(), e *apiError) {
	if r.ContentLength > limit {
		return nil, func() {}, tooLarge(limit)
	}
	if s.cfg.BodyReadTimeout > 0 {
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(s.cfg.BodyReadTimeout))
	}
	pb := bodyPool.Get().(*[]byte)
	buf := (*pb)[:0]
	var held int64
	done = func() {
		s.bodies.release(held)
		if cap(buf) <= maxPooledBuffer {
			*pb = buf[:0]
			bodyPool.Put(pb)
		}
	}
	if !s.bodies.tryAcquire(int64(cap(buf))) {
		return nil, done, s.overBudget()
	}
	held = int64(cap(buf))
	rd := http.MaxBytesReader(w, r.Body, limit)
	for {
		if len(buf) == cap(buf) {
			grow := max(cap(buf), minBodyRead)
			if !s.bodies.tryAcquire(int64(grow)) {
				return nil, done, s.overBudget()
			}
			held += int64(grow)
			grown := make([]byte, len(buf), cap(buf)+grow)
			copy(grown, buf)
			buf = grown
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == nil {
			continue
		}
		var maxErr *http.MaxBytesError
		switch {
		case errors.Is(err, io.EOF):
			return buf, done, nil
		case errors.As(err, &maxErr):
			return nil, done, tooLarge(limit)
		case errors.Is(err, os.ErrDeadlineExceeded):
			return nil, done, errorf(http.StatusRequestTimeout, codeTimeout,
				fmt.Sprintf("the body did not arrive within %s (%d bytes read)", s.cfg.BodyReadTimeout, len(buf)))
		default:
			return nil, done, errorf(http.StatusBadRequest, codeInvalidJSON, "reading body: "+err.Error())
		}
	}
}

func (s *Server) overBudget() *apiError {
	s.metrics.rejected.Inc()
	return errorf(http.StatusServiceUnavailable, codeBusy,
		fmt.Sprintf("the gateway holds %d bytes of request bodies, its limit; retry later", s.cfg.MaxBodyBytesInFlight))
}

func tooLarge(limit int64) *apiError {
	return errorf(http.StatusRequestEntityTooLarge, codeTooLarge, fmt.Sprintf("body is larger than %d bytes, the limit", limit))
}

// held returns the bytes held now.
func (b *byteBudget) held() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.used
}
