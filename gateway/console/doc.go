// Package console is the operator's web console at /ui/: server-rendered
// pages (html/template) with a little vanilla JavaScript, embedded in the
// gateway binary, working offline.
//
// The pages carry no data: the script reads it from the gateway's JSON API
// with the API key the operator typed (kept in sessionStorage, sent as the
// X-API-Key header, never in a URL), so every view is tenant-scoped exactly
// like the API. Beside the pages the package serves two JSON endpoints of its
// own: the overview (counts from message_status, the consumers and the
// dead-letter stream from JetStream) and the entity tables, read through the
// gateway's database with only the identifiers that the workers' catalogs
// name (see wire.Catalog), quoted, with bounded row counts.
//
// It must never link entity code or import the gateway: the gateway passes
// it its authentication and tenant lookup.
package console
