package rt

import (
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

// Decimal is an exact decimal number kept as its text (e.g. "1234.50"), so
// that no value ever goes through float64 between the body and the
// database's numeric column.
type Decimal string

// Rat returns the exact value of d.
func (d Decimal) Rat() *big.Rat {
	r, _ := new(big.Rat).SetString(string(d))
	return r
}

var decimalText = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?$`)

// DecimalOf reads a decimal from a JSON number or from a string holding one
// (many producers send money as strings to keep it exact). Exponents are
// expanded; precision and scale are checked, never rounded.
func DecimalOf(e *Errors, l Loc, v Value, r *Rules) Decimal {
	var s string
	switch v.kind() {
	case kindNumber:
		s = v.text()
	case kindString:
		s = v.str()
	default:
		e.Addf(l, "expected decimal, got %s", typeName(v))
		return ""
	}
	if !decimalText.MatchString(s) {
		e.Addf(l, "expected decimal, got %q", s)
		return ""
	}
	if strings.ContainsAny(s, "eE") {
		var ok bool
		if s, ok = expand(s); !ok {
			e.Add(l, "decimal exponent out of range")
			return ""
		}
	}
	d := Decimal(s)
	intDigits, fracDigits := digits(s)
	if r.Precision > 0 {
		if fracDigits > r.Scale {
			e.Addf(l, "more than %d decimal places", r.Scale)
		}
		if intDigits > r.Precision-r.Scale {
			e.Addf(l, "too many digits for numeric(%d,%d)", r.Precision, r.Scale)
		}
	}
	if r.Min != nil || r.Max != nil {
		bounds(e, l, d.Rat(), r)
	}
	return d
}

// maxExponent bounds decimal exponents, far beyond any numeric(p,s).
const maxExponent = 1000

// expand writes a number with an exponent in plain decimal notation.
func expand(s string) (string, bool) {
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	// Bound the expansion: a body must not make us write a million digits.
	if n, err := strconv.Atoi(exp); err != nil || n > maxExponent || n < -maxExponent {
		return "", false
	}
	r, ok := new(big.Rat).SetString(mant + "e" + exp)
	if !ok {
		return "", false
	}
	places := 0
	for x := new(big.Rat).Set(r); !x.IsInt(); x.Mul(x, big.NewRat(10, 1)) {
		places++
	}
	return r.FloatString(places), true
}

// digits counts the significant integer digits and the fraction digits of
// a plain decimal; trailing fraction zeros do not count.
func digits(s string) (intDigits, fracDigits int) {
	s = strings.TrimPrefix(s, "-")
	i, f, _ := strings.Cut(s, ".")
	i = strings.TrimLeft(i, "0")
	f = strings.TrimRight(f, "0")
	return len(i), len(f)
}
