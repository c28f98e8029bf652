package gateway

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gorilla/mux"
)

// corsAllowHeaders are the request headers a browser may send across
// origins: the ones the gateway reads.
const corsAllowHeaders = "Authorization, Content-Type, Idempotency-Key, Last-Event-ID, X-API-Key, X-Entity-Type, X-Source"

// corsExposeHeaders are the answer headers a browser's script may read.
const corsExposeHeaders = "Location, Retry-After"

// corsMaxAge is how long, in seconds, a browser may cache a preflight.
const corsMaxAge = "600"

// candidateMethods are the methods tried to find what a path allows.
var candidateMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// allowedMethods returns the methods router serves r's path with, in the
// order of an Allow header, or nil when no route has the path.
func allowedMethods(router *mux.Router, r *http.Request) []string {
	var allowed []string
	for _, m := range candidateMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	sort.Strings(allowed)
	return allowed
}

// methodNotAllowed answers 405 with the Allow header RFC 9110 requires.
func methodNotAllowed(router *mux.Router) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		allowed := allowedMethods(router, r)
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, errorf(http.StatusMethodNotAllowed, codeMethodNotAllowed,
			r.Method+" is not allowed here; allowed: "+strings.Join(allowed, ", ")))
	})
}

// cors lets browser pages of the allowed origins call the gateway. A
// request without Origin, or from an origin not allowed, passes through
// unchanged (the browser then refuses the answer to the page); a preflight
// (OPTIONS with Access-Control-Request-Method) from an allowed origin is
// answered here with the path's methods, before authentication, which a
// preflight never carries. origins holding "*" allows every origin; none
// turns CORS off.
func cors(origins []string, router *mux.Router, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	allowAll := false
	allowed := map[string]bool{}
	for _, o := range origins {
		allowAll = allowAll || o == "*"
		allowed[strings.TrimRight(o, "/")] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		h.Add("Vary", "Origin")
		if origin == "" || (!allowAll && !allowed[origin]) {
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Origin", origin)
		if r.Method != http.MethodOptions || r.Header.Get("Access-Control-Request-Method") == "" {
			h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
			next.ServeHTTP(w, r)
			return
		}
		h.Add("Vary", "Access-Control-Request-Method")
		h.Add("Vary", "Access-Control-Request-Headers")
		methods := allowedMethods(router, r)
		if len(methods) == 0 {
			notFound(w, r)
			return
		}
		h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
		h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		h.Set("Access-Control-Max-Age", corsMaxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}
