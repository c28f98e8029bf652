package rt

import (
	"fmt"
	"strconv"
	"strings"
)

// Loc is where a value sits in the message body. It is turned into text
// only when an error needs it, so reading a valid message builds no paths.
type Loc struct {
	Base string // path of the object read, "" for the body itself
	Key  string // dotted key in that object, "" for the object itself
	elem int    // array element index + 1, 0 when none
}

// At is the location of key in the object at base.
func At(base, key string) Loc { return Loc{Base: base, Key: key} }

// Elem is the location of the i-th element of the array at l.
func (l Loc) Elem(i int) Loc {
	l.elem = i + 1
	return l
}

func (l Loc) String() string {
	s := l.Base
	if l.Key != "" {
		if s != "" {
			s += "."
		}
		s += l.Key
	}
	if l.elem > 0 {
		s += "[" + strconv.Itoa(l.elem-1) + "]"
	}
	if s == "" {
		return "body"
	}
	return s
}

// ItemBase is the path of the i-th item of the array at key of the object
// at base: the base of the entity read from that item.
func ItemBase(base, key string, i int) string {
	return At(base, key).Elem(i).String()
}

// FieldError is one invalid value of a message.
type FieldError struct {
	Path string `json:"path"`
	Msg  string `json:"message"`
}

func (e FieldError) Error() string { return e.Path + ": " + e.Msg }

// Errors collects every field error of one message, so that the client
// learns all that is wrong at once.
type Errors struct {
	list []FieldError
}

// Add records the error msg at l.
func (e *Errors) Add(l Loc, msg string) {
	e.list = append(e.list, FieldError{Path: l.String(), Msg: msg})
}

// Addf records a formatted error at l.
func (e *Errors) Addf(l Loc, format string, args ...any) {
	e.Add(l, fmt.Sprintf(format, args...))
}

// Err returns a *DecodeError for entity when errors were recorded.
func (e *Errors) Err(entity string) error {
	if len(e.list) == 0 {
		return nil
	}
	return &DecodeError{Entity: entity, Fields: e.list}
}

// DecodeError says why a message body is not a valid entity. It is
// permanent: no retry can make the body valid.
type DecodeError struct {
	Entity string
	Fields []FieldError
}

// maxShown bounds the field errors spelled out in Error; Fields keeps them all.
const maxShown = 20

func (e *DecodeError) Error() string {
	var b strings.Builder
	if e.Entity != "" {
		fmt.Fprintf(&b, "invalid %s: ", e.Entity)
	}
	for i, f := range e.Fields {
		if i == maxShown {
			fmt.Fprintf(&b, "; and %d more", len(e.Fields)-maxShown)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	return b.String()
}
