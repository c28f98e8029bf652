package migrations

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ParseOp reads a migrate command's operation and its step count from its
// arguments: "up", "version", "down" (every migration) or "down N".
func ParseOp(args []string) (op string, steps int, err error) {
	if len(args) == 0 {
		return "", 0, errors.New("missing operation")
	}
	op, rest := args[0], args[1:]
	switch {
	case (op == "up" || op == "version") && len(rest) == 0:
		return op, 0, nil
	case op == "down" && len(rest) == 0:
		return op, 0, nil
	case op == "down" && len(rest) == 1:
		steps, err = strconv.Atoi(rest[0])
		if err != nil || steps < 1 {
			return "", 0, fmt.Errorf("down %s: N must be a positive integer", rest[0])
		}
		return op, steps, nil
	}
	return "", 0, fmt.Errorf("unknown operation %q", strings.Join(args, " "))
}
