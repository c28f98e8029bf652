// Package workercmd is the entry point of every worker binary: generated
// mains fill in an App and call Main, which provides the run, migrate, dlq
// and version subcommands. It maps flags and environment variables onto
// worker.Config, which checks them (worker.Config.Validate).
//
// It lives apart from package cli, the nomnom binary's commands, so that a
// worker binary links only the worker side: it must never import cli,
// gateway, bench or codegen (other than codegen/rt, through the generated
// code), which TestWorkerDependencies checks.
package workercmd
