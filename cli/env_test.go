package cli

import (
	"slices"
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
		f := newFlags("test")
		f.lookup = func(string) (string, bool) { return "", false }
		var create bool
		f.BoolVar(&create, "create-database", false, "")
		if err := f.parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if create != tc.create || !slices.Equal(f.Args(), tc.wantPos) {
			t.Errorf("%q: create=%v args=%q, want %v %q", tc.args, create, f.Args(), tc.create, tc.wantPos)
		}
	}
}
