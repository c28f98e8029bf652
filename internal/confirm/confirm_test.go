package confirm

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestDownAll(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		all         bool
		interactive bool
		answer      string
		ok          bool
		want        string // in the error or the prompt
	}{
		{"--all", true, false, "", true, ""},
		{"no terminal", false, false, "y\n", false, "pass N to revert the last N, or --all"},
		{"yes", false, true, "yes\n", true, "[y/N]"},
		{"y without newline", false, true, "y", true, "[y/N]"},
		{"no", false, true, "n\n", false, "not confirmed"},
		{"empty answer", false, true, "\n", false, "not confirmed"},
		{"end of input", false, true, "", false, "not confirmed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			err := DownAll(c.all, "entity", strings.NewReader(c.answer), c.interactive, &out)
			if (err == nil) != c.ok {
				t.Fatalf("err = %v, want ok %v", err, c.ok)
			}
			if err != nil && !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q does not say %q", err, c.want)
			}
			if c.ok && c.want != "" && !strings.Contains(out.String(), c.want) {
				t.Errorf("prompt %q does not say %q", out.String(), c.want)
			}
			if !c.ok && c.interactive && !errors.Is(err, ErrNotConfirmed) {
				t.Errorf("err = %v, want ErrNotConfirmed", err)
			}
		})
	}
}
