package client_test

import (
	"fmt"
	"os"
	"testing"
)

// suiteTB stands in for a testing.TB where the suite's examples need one:
// examples get none, yet run against a real gateway started by the same
// helpers as the tests. Its cleanups run after the suite.
type suiteTB struct {
	testing.TB // unimplemented methods panic: the helpers use only these
	dir        string
	cleanups   []func()
}

func (s *suiteTB) Helper()                   {}
func (s *suiteTB) Cleanup(f func())          { s.cleanups = append(s.cleanups, f) }
func (s *suiteTB) Fatal(args ...any)         { panic(fmt.Sprint(args...)) }
func (s *suiteTB) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
func (s *suiteTB) Name() string              { return "examples" }
func (s *suiteTB) TempDir() string {
	d, err := os.MkdirTemp(s.dir, "tmp")
	if err != nil {
		panic(err)
	}
	return d
}

var suite *suiteTB

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nomnom-client-")
	if err != nil {
		panic(err)
	}
	suite = &suiteTB{dir: dir}
	code := m.Run()
	for i := len(suite.cleanups) - 1; i >= 0; i-- {
		suite.cleanups[i]()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// startExampleGateway starts a gateway for one example; the second result
// is kept for the examples' shape and does nothing, the suite stops it.
func startExampleGateway() (string, func()) {
	return startGateway(suite), func() {}
}
