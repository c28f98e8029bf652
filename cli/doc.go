// Package cli is the command line of the nomnom binary: its subcommands
// (gateway, migrate, bench, dlq, generate, validate, version). Only cmd/nomnom
// imports it. It maps flags and environment variables onto the Config
// structs of the packages it runs; it must hold no logic of theirs, and
// worker binaries must never import it (they use package workercmd).
package cli
