package gateway

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"strings"
)

// ParseAPIKeys reads API keys in the NOMNOM_API_KEYS format: "tenant:key"
// entries separated by commas or newlines, blank entries and lines starting
// with '#' ignored. It returns Config.APIKeys (key → tenant). Errors name the
// entry by position and never quote a key.
func ParseAPIKeys(text string) (map[string]string, error) {
	keys := map[string]string{}
	entries := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == '\n' })
	for i, entry := range entries {
		entry = strings.TrimSpace(entry)
		if entry == "" || strings.HasPrefix(entry, "#") {
			continue
		}
		tenant, key, ok := strings.Cut(entry, ":")
		tenant, key = strings.TrimSpace(tenant), strings.TrimSpace(key)
		if !ok || tenant == "" || key == "" {
			return nil, fmt.Errorf("api keys entry %d: want tenant:key", i+1)
		}
		if prev, dup := keys[key]; dup {
			return nil, fmt.Errorf("api keys entry %d: tenant %q reuses the key of tenant %q", i+1, tenant, prev)
		}
		keys[key] = tenant
	}
	return keys, nil
}

// keyring resolves API keys to tenants. It looks keys up by their SHA-256,
// so that the lookup's timing says nothing about how close a guess is.
type keyring map[[sha256.Size]byte]string

func newKeyring(keys map[string]string) keyring {
	ring := make(keyring, len(keys))
	for key, tenant := range keys {
		ring[sha256.Sum256([]byte(key))] = tenant
	}
	return ring
}

type tenantKey struct{}

// tenantOf returns the tenant the request was authenticated as ("" when the
// gateway has no API keys).
func tenantOf(ctx context.Context) string {
	t, _ := ctx.Value(tenantKey{}).(string)
	return t
}

// authenticate requires a known API key, from "Authorization: Bearer <key>"
// or "X-API-Key", when the gateway has keys, and puts its tenant in the
// request's context.
func (ring keyring) authenticate(next http.Handler) http.Handler {
	if len(ring) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tenant, ok := ring.lookup(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="nomnom"`)
			writeError(w, errorf(http.StatusUnauthorized, codeUnauthorized, "a valid API key is required (Authorization: Bearer <key> or X-API-Key)"))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), tenantKey{}, tenant)))
	})
}

// lookup returns the tenant of the request's API key, from "Authorization:
// Bearer <key>" or "X-API-Key"; ok is false without a known key.
func (ring keyring) lookup(r *http.Request) (tenant string, ok bool) {
	key := r.Header.Get("X-API-Key")
	if auth := r.Header.Get("Authorization"); key == "" && auth != "" {
		scheme, token, _ := strings.Cut(auth, " ")
		if strings.EqualFold(scheme, "Bearer") {
			key = strings.TrimSpace(token)
		}
	}
	if key == "" {
		return "", false
	}
	tenant, ok = ring[sha256.Sum256([]byte(key))]
	return tenant, ok
}
