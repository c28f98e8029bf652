package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestReport(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		in         string
		wantFailed bool
		want       []string
		notWant    []string
	}{
		{
			name: "passing package with one slow test",
			in: `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Test":"TestA","Output":"noise\n"}
{"Action":"pass","Package":"p","Test":"TestA","Elapsed":3.5}
{"Action":"pass","Package":"p","Test":"TestB","Elapsed":0.1}
{"Action":"pass","Package":"p","Test":"TestB/sub","Elapsed":0.1}
{"Action":"pass","Package":"p","Elapsed":4}`,
			want:    []string{"     p TestA\t3.5s", "ok   p\t4.0s\t(2 tests)"},
			notWant: []string{"noise", "TestB"},
		},
		{
			name: "failed test prints its output",
			in: `{"Action":"output","Package":"p","Test":"TestA","Output":"want 1, got 2\n"}
{"Action":"fail","Package":"p","Test":"TestA","Elapsed":0.2}
{"Action":"fail","Package":"p","Elapsed":0.3}`,
			wantFailed: true,
			want:       []string{"--- FAIL: p TestA (0.2s)", "    want 1, got 2", "FAIL p\t0.3s"},
		},
		{
			name: "build failure",
			in: `{"ImportPath":"q","Action":"build-output","Output":"q/x.go:1: syntax error\n"}
{"ImportPath":"q","Action":"build-fail"}`,
			wantFailed: true,
			want:       []string{"q/x.go:1: syntax error"},
		},
		{
			name: "a line that is not an event is passed through",
			in:   "go: downloading example.com/m v1.0.0",
			want: []string{"go: downloading example.com/m v1.0.0"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			failed, err := report(strings.NewReader(tc.in), &out)
			if err != nil {
				t.Fatal(err)
			}
			if failed != tc.wantFailed {
				t.Errorf("failed = %v, want %v", failed, tc.wantFailed)
			}
			for _, w := range tc.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tc.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}
