// Package cli is the command line of nomnom: the subcommands of the nomnom
// binary and the Main of generated worker binaries. It is the only package
// that reads environment variables and flags; every other package takes a
// Config struct.
package cli
