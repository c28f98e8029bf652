package gateway

import (
	"fmt"
	"net/http"
	"regexp"
	"unicode"
	"unicode/utf8"

	"github.com/nomnom-io/nomnom/wire"
)

// Bounds of the request fields that end up in a subject, a header, an
// envelope or a status record. Each is far below what NATS, JetStream or
// PostgreSQL would refuse, so that a client can never make a publish fail
// (or the server close the connection) with a name, and so that the
// envelope's overhead beside the body is bounded (see envelopeReserve).
const (
	// MaxSourceLength bounds X-Source, in bytes.
	MaxSourceLength = 256
	// MaxIdempotencyKeyLength bounds Idempotency-Key, in bytes.
	MaxIdempotencyKeyLength = 255
	// MaxTenantLength bounds a tenant name of the API keys.
	MaxTenantLength = 64
)

// tenantRe is the shape of a tenant name: it is stored in every envelope and
// record of the tenant and compared by readers.
var tenantRe = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// validTenant reports whether a tenant name of the API keys is acceptable.
func validTenant(name string) bool {
	return len(name) <= MaxTenantLength && tenantRe.MatchString(name)
}

// readMeta reads the entity type, source and idempotency key of a request
// and checks each against its bound, naming the field that is wrong. The
// entity type is X-Entity-Type's, else ?entity='s; when neither names one,
// withBodyEntityType reads the body's own.
func readMeta(r *http.Request) (ingestMeta, *apiError) {
	m := ingestMeta{
		source:         r.Header.Get("X-Source"),
		tenant:         tenantOf(r.Context()),
		idempotencyKey: r.Header.Get("Idempotency-Key"),
	}
	field := "X-Entity-Type"
	m.entityType = r.Header.Get("X-Entity-Type")
	if m.entityType == "" {
		field = "?entity="
		m.entityType = r.URL.Query().Get("entity")
	}
	if e := checkEntityType(field, m.entityType); e != nil {
		return m, e
	}
	if e := checkSource(m.source); e != nil {
		return m, e
	}
	if e := checkIdempotencyKey(m.idempotencyKey); e != nil {
		return m, e
	}
	return m, nil
}

// checkEntityType bounds an entity type: it becomes a subject token and a
// NATS header value.
func checkEntityType(field, t string) *apiError {
	switch {
	case t == "":
		return nil
	case len(t) > wire.MaxEntityTypeLength:
		return errorf(http.StatusBadRequest, codeInvalidEntityType,
			fmt.Sprintf("%s: entity type is %d bytes long; at most %d are allowed", field, len(t), wire.MaxEntityTypeLength))
	case !wire.ValidEntityToken(t):
		return errorf(http.StatusBadRequest, codeInvalidEntityType,
			fmt.Sprintf("%s: entity type %q: only letters, digits, '-' and '_' are allowed", field, t))
	}
	return nil
}

// checkSource bounds X-Source: printable UTF-8, at most MaxSourceLength bytes.
func checkSource(s string) *apiError {
	switch {
	case len(s) > MaxSourceLength:
		return errorf(http.StatusBadRequest, codeInvalidSource,
			fmt.Sprintf("X-Source is %d bytes long; at most %d are allowed", len(s), MaxSourceLength))
	case !utf8.ValidString(s):
		return errorf(http.StatusBadRequest, codeInvalidSource, "X-Source is not valid UTF-8")
	}
	for i, r := range s {
		if !unicode.IsPrint(r) {
			return errorf(http.StatusBadRequest, codeInvalidSource,
				fmt.Sprintf("X-Source has a character that is not printable (%U) at byte %d", r, i))
		}
	}
	return nil
}

// checkIdempotencyKey bounds Idempotency-Key: visible ASCII and spaces, at
// most MaxIdempotencyKeyLength bytes.
func checkIdempotencyKey(k string) *apiError {
	if len(k) > MaxIdempotencyKeyLength {
		return errorf(http.StatusBadRequest, codeInvalidIdempotency,
			fmt.Sprintf("Idempotency-Key is %d bytes long; at most %d are allowed", len(k), MaxIdempotencyKeyLength))
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c > 0x7e {
			return errorf(http.StatusBadRequest, codeInvalidIdempotency,
				fmt.Sprintf("Idempotency-Key has byte 0x%02x at offset %d; only printable ASCII is allowed", c, i))
		}
	}
	return nil
}
