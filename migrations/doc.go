// Package migrations holds nomnom's platform schema as golang-migrate files
// (the message_status table) and applies migration sets to PostgreSQL.
//
// The SQL files are plain golang-migrate files, so `migrate -path migrations`
// works on this folder too; Platform embeds the same files into the binary.
// Up, Down and Version take any fs.FS, so a generated worker applies its own
// entity migrations with them, each set keeping its version in a table of its
// own so that several sets share one database.
//
// This package never reads the environment and never puts a database
// password into an error.
package migrations
