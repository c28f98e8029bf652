package envflag

import (
	"slices"
	"strings"
	"testing"
)

func TestFlagsInterspersed(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args    []string
		create  bool
		wantPos []string
	}{
		{[]string{"up"}, false, []string{"up"}},
		{[]string{"up", "--create-database"}, true, []string{"up"}},
		{[]string{"--create-database", "up"}, true, []string{"up"}},
		{[]string{"down", "2", "--create-database"}, true, []string{"down", "2"}},
		{[]string{"up", "--", "--create-database"}, false, []string{"up", "--create-database"}},
	} {
		f := New("test")
		f.lookup = func(string) (string, bool) { return "", false }
		var create bool
		f.BoolVar(&create, "create-database", false, "")
		if err := f.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if create != tc.create || !slices.Equal(f.Args(), tc.wantPos) {
			t.Errorf("%q: create=%v args=%q, want %v %q", tc.args, create, f.Args(), tc.create, tc.wantPos)
		}
	}
}

func TestSecretNeverPrinted(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": "postgres://u:SuperSecret@h/db"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "postgres://u:SuperSecret@h/db"},
		{[]string{"--database-url", "postgres://other@h/db"}, "postgres://other@h/db"},
	} {
		f := New("test")
		f.lookup = func(k string) (string, bool) { v, ok := env[k]; return v, ok }
		var out strings.Builder
		f.SetOutput(&out)
		var url string
		f.Secret(&url, "database-url", "DATABASE_URL", "", "PostgreSQL URL")
		if err := f.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		if url != tc.want {
			t.Errorf("%q: url %q, want %q", tc.args, url, tc.want)
		}
		f.PrintDefaults()
		if strings.Contains(out.String(), "SuperSecret") {
			t.Errorf("usage shows the secret: %s", out.String())
		}
	}
}
