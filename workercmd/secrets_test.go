package workercmd

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestHelpNeverPrintsSecrets(t *testing.T) {
	// Not parallel: it sets the environment.
	const marker = "Sekr1tValue"
	for _, name := range []string{"DATABASE_URL", "NATS_URL", "NATS_PASSWORD", "NATS_TOKEN"} {
		t.Setenv(name, "nats://user:"+marker+"@host.example/"+marker)
	}
	for _, args := range [][]string{{"-h"}, {"run", "-h"}, {"migrate", "-h"}, {"dlq", "-h"}, {"dlq", "list", "-h"}, {"help"}} {
		var stdout, stderr bytes.Buffer
		run(context.Background(), testApp(), args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if strings.Contains(out, marker) {
			t.Errorf("%s prints a secret:\n%s", strings.Join(args, " "), out)
		}
		if !strings.Contains(out, "usage") && !strings.Contains(out, "Usage") {
			t.Errorf("%s printed no usage: %q", strings.Join(args, " "), out)
		}
	}
}
