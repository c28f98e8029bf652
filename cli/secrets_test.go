package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// secretEnv sets every variable that may carry a credential to a value
// holding marker.
func secretEnv(t *testing.T, marker string) {
	t.Helper()
	for _, name := range []string{"DATABASE_URL", "NATS_URL", "NATS_PASSWORD", "NATS_TOKEN",
		"NOMNOM_API_KEYS", "NOMNOM_API_KEY", "NOMNOM_URL"} {
		t.Setenv(name, "https://user:"+marker+"@host.example/"+marker)
	}
}

func TestHelpNeverPrintsSecrets(t *testing.T) {
	// Not parallel: it sets the environment.
	const marker = "Sekr1tValue"
	secretEnv(t, marker)
	helps := [][]string{{"-h"}, {"bench", "baseline-http", "-h"}, {"dlq", "-h"}, {"dlq", "list", "-h"}}
	for name := range commands {
		helps = append(helps, []string{name, "-h"})
	}
	for _, args := range helps {
		var stdout, stderr bytes.Buffer
		run(context.Background(), args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if strings.Contains(out, marker) {
			t.Errorf("nomnom %s prints a secret:\n%s", strings.Join(args, " "), out)
		}
		if args[0] != "version" && !strings.Contains(out, "usage") && !strings.Contains(out, "-") {
			t.Errorf("nomnom %s printed no usage: %q", strings.Join(args, " "), out)
		}
	}
}
