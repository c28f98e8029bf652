package tpch

import (
	"errors"
	"fmt"
	"strings"
)

// normalizePhone is the Go transform the Customer definition names with
// `transform: {name: "go:normalizePhone"}`: senders write phone numbers as
// "25-989-741-2988", "+25 989 741 2988" or "(25) 989.741.2988"; the table
// keeps one form, CC-AAA-EEE-NNNN. This file is written by hand; nomnom
// never overwrites it.
func normalizePhone(inputs []any, _ map[string]string) (any, error) {
	if inputs[0] == nil {
		return nil, nil
	}
	s, ok := inputs[0].(string)
	if !ok {
		return nil, errors.New("expected phone number string")
	}
	var digits strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case strings.ContainsRune(" +-().", r):
		default:
			return nil, fmt.Errorf("unexpected %q in phone number", r)
		}
	}
	d := digits.String()
	if len(d) != 12 {
		return nil, fmt.Errorf("phone number has %d digits, want 12", len(d))
	}
	return d[0:2] + "-" + d[2:5] + "-" + d[5:8] + "-" + d[8:], nil
}
