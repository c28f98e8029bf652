package rt

import (
	"cmp"
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
		s = v.text() // the scanner checked the JSON number grammar
	case kindString:
		s = v.str()
		if !decimalText.MatchString(s) {
			e.Addf(l, "expected decimal, got %q", s)
			return ""
		}
	default:
		e.Addf(l, "expected decimal, got %s", typeName(v))
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
		boundsDecimal(e, l, s, r)
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

// smallInt is the value of a bound that is an int64 integer.
func smallInt(b *big.Rat) (int64, bool) {
	if b == nil || !b.IsInt() || !b.Num().IsInt64() {
		return 0, false
	}
	return b.Num().Int64(), true
}

// cmpInt compares x with bound b; integer bounds, the common case,
// are compared without allocating.
func cmpInt(x int64, b *big.Rat) int {
	if n, ok := smallInt(b); ok {
		return cmp.Compare(x, n)
	}
	return new(big.Rat).SetInt64(x).Cmp(b)
}

// cmpDecimal compares the plain decimal s with bound b.
func cmpDecimal(s string, b *big.Rat) int {
	if n, ok := smallInt(b); ok {
		return cmpPlain(s, strconv.FormatInt(n, 10))
	}
	return Decimal(s).Rat().Cmp(b)
}

// cmpPlain compares two plain decimals (-?digits(.digits)?) by their text.
func cmpPlain(a, b string) int {
	negA, ia, fa := splitPlain(a)
	negB, ib, fb := splitPlain(b)
	if negA != negB {
		if negA {
			return -1
		}
		return 1
	}
	c := cmp.Compare(len(ia), len(ib))
	if c == 0 {
		c = strings.Compare(ia, ib)
	}
	for i := 0; c == 0 && i < max(len(fa), len(fb)); i++ {
		c = cmp.Compare(digitAt(fa, i), digitAt(fb, i))
	}
	if negA {
		return -c
	}
	return c
}

// splitPlain splits a plain decimal into its sign and its integer and
// fraction digits without insignificant zeros; zero is never negative.
func splitPlain(s string) (neg bool, intPart, frac string) {
	s, neg = strings.CutPrefix(s, "-")
	intPart, frac, _ = strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	frac = strings.TrimRight(frac, "0")
	return neg && (intPart != "" || frac != ""), intPart, frac
}

func digitAt(s string, i int) byte {
	if i < len(s) {
		return s[i]
	}
	return '0'
}

func boundsInt(e *Errors, l Loc, x int64, r *Rules) {
	if r.Min != nil && cmpInt(x, r.Min) < 0 {
		e.Addf(l, "below minimum %s", r.Min.RatString())
	}
	if r.Max != nil && cmpInt(x, r.Max) > 0 {
		e.Addf(l, "above maximum %s", r.Max.RatString())
	}
}

func boundsDecimal(e *Errors, l Loc, s string, r *Rules) {
	if r.Min != nil && cmpDecimal(s, r.Min) < 0 {
		e.Addf(l, "below minimum %s", r.Min.RatString())
	}
	if r.Max != nil && cmpDecimal(s, r.Max) > 0 {
		e.Addf(l, "above maximum %s", r.Max.RatString())
	}
}
