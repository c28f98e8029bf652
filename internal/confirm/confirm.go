// Package confirm asks an operator before a command destroys data: on a
// terminal it asks, and elsewhere (scripts, CI, containers without a TTY)
// it needs an explicit flag. It never reads anything but stdin.
package confirm

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// ErrNotConfirmed is a refused or unanswered confirmation.
var ErrNotConfirmed = errors.New("not confirmed; nothing reverted")

// Terminal is where a confirmation is asked: stdin, when it is a terminal.
// A script, a CI job or a container without a TTY gets false and must say
// what it wants with a flag. /dev/null is a character device too (it is
// what a test or a detached process reads), so it is told apart.
func Terminal() (io.Reader, bool) {
	fi, err := os.Stdin.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return os.Stdin, false
	}
	null, err := os.Stat(os.DevNull)
	return os.Stdin, err == nil && !os.SameFile(fi, null)
}

// DownAll guards `migrate down` without N, which reverts every
// migration of a set and so drops its tables and their rows: --all says
// so; otherwise a terminal is asked, and without a terminal it is refused.
func DownAll(all bool, what string, in io.Reader, interactive bool, out io.Writer) error {
	if all {
		return nil
	}
	if !interactive {
		return fmt.Errorf("down without N reverts every %s migration, dropping their tables and rows: pass N to revert the last N, or --all to revert them all", what)
	}
	fmt.Fprintf(out, "Revert every %s migration, dropping their tables and all their rows? [y/N] ", what)
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return ErrNotConfirmed
}
