package gateway

import (
	_ "embed"
	"net/http"
)

// OpenAPI is the OpenAPI 3.1 document of every endpoint of the gateway,
// served at GET /openapi.json. The gateway's tests validate their requests
// and responses against it, so it stays true to the code.
//
//go:embed openapi.json
var OpenAPI []byte

func handleOpenAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(OpenAPI)
}
