package codegen

import (
	"fmt"
	"sort"
	"strings"
)

// Error is one problem of an entity definition, located precisely enough
// for an editor to jump to it.
type Error struct {
	Pos  Pos
	Path string // key path in the document, e.g. spec.fields[2].type
	Msg  string
}

func (e Error) Error() string {
	if e.Path == "" {
		return fmt.Sprintf("%s: %s", e.Pos, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", e.Pos, e.Path, e.Msg)
}

// ErrorList is every problem found in one run, sorted by file and line, so
// that a user fixes them all at once instead of one per run.
type ErrorList []Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

func (l *ErrorList) add(pos Pos, path, format string, args ...any) {
	*l = append(*l, Error{Pos: pos, Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (l ErrorList) sorted() ErrorList {
	sort.SliceStable(l, func(i, j int) bool {
		if l[i].Pos.File != l[j].Pos.File {
			return l[i].Pos.File < l[j].Pos.File
		}
		return l[i].Pos.Line < l[j].Pos.Line
	})
	return l
}

// err returns the list as an error, or nil when it is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l.sorted()
}
