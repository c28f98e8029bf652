// Package tpch is the example project: TPC-H orders, line items, customers
// and products defined in entities/, and the worker generated from them
// (tpch/, cmd/tpch-worker/, migrations/). Only entities/, tpch/transforms.go
// and the tests are written by hand; run `go generate ./examples/tpch/...`
// after changing a definition.
package tpch

//go:generate go run ../../cmd/nomnom generate --entities entities --out . --package tpch --module github.com/nomnom-io/nomnom/examples/tpch
