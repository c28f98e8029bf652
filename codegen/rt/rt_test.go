package rt

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDecimalOf(t *testing.T) {
	t.Parallel()
	money := &Rules{Precision: 15, Scale: 2, Min: MustRat("0")}
	cases := []struct {
		in   any
		r    *Rules
		want Decimal
		err  string
	}{
		{json.Number("1234.50"), money, "1234.50", ""},
		{json.Number("1234.500"), money, "1234.500", ""}, // trailing zeros fit the scale
		{"0.10", money, "0.10", ""},                      // strings holding decimals are read too
		{json.Number("1.5e2"), money, "150", ""},
		{json.Number("12.5e-1"), money, "1.25", ""},
		{json.Number("1.234"), money, "", "more than 2 decimal places"},
		{json.Number("12345678901234.5"), money, "", "too many digits for numeric(15,2)"},
		{json.Number("-1"), money, "", "below minimum 0"},
		{"abc", money, "", `expected decimal, got "abc"`},
		{true, money, "", "expected decimal, got boolean"},
		{json.Number("1e99999"), money, "", "exponent out of range"},
		{json.Number("99999999999999999999.123456789"), &Rules{}, "99999999999999999999.123456789", ""},
	}
	for _, c := range cases {
		var e Errors
		got := DecimalOf(&e, At("", "x"), valueOf(c.in), c.r)
		err := e.Err("E")
		if c.err == "" {
			if err != nil || got != c.want {
				t.Errorf("%v: got %q, %v; want %q", c.in, got, err, c.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%v: got %v, want error %q", c.in, err, c.err)
		}
	}
}

func TestScalars(t *testing.T) {
	t.Parallel()
	var e Errors
	l := At("line_items[1]", "quantity")
	if got := Int32(&e, l, valueOf(json.Number("7")), &Rules{Min: MustRat("1")}); got != 7 || len(e.list) != 0 {
		t.Fatalf("Int32 = %d, %v", got, e.list)
	}
	Int32(&e, l, valueOf(json.Number("1.5")), &Rules{})
	Int32(&e, l, valueOf(json.Number("3000000000")), &Rules{})
	Int32(&e, l, valueOf("2"), &Rules{})
	String(&e, At("", "s"), valueOf("toolong"), &Rules{MaxLength: 3, Enum: []string{"a"}})
	Date(&e, At("", "d"), valueOf("2024-02-30"), &Rules{})
	if got := Timestamp(&e, At("", "ts"), valueOf("2024-02-03T04:05:06.5+02:00"), &Rules{}); !got.Equal(time.Date(2024, 2, 3, 2, 5, 6, 5e8, time.UTC)) {
		t.Errorf("Timestamp = %v", got)
	}
	if got := UUID(&e, At("", "u"), valueOf("6BA7B810-9DAD-11D1-80B4-00C04FD430C8"), &Rules{}); got != "6ba7b810-9dad-11d1-80b4-00c04fd430c8" {
		t.Errorf("UUID = %q", got)
	}
	want := []string{
		"line_items[1].quantity: expected integer, got 1.5",
		"line_items[1].quantity: out of range for integer",
		"line_items[1].quantity: expected integer, got string",
		"s: longer than 3 characters",
		"s: must be one of a",
		`d: expected date (YYYY-MM-DD), got "2024-02-30"`,
	}
	if len(e.list) != len(want) {
		t.Fatalf("errors %v", e.list)
	}
	for i, w := range want {
		if e.list[i].Error() != w {
			t.Errorf("error %d = %q, want %q", i, e.list[i].Error(), w)
		}
	}
}

func TestRequiredOptionalArray(t *testing.T) {
	t.Parallel()
	var e Errors
	obj := MustJSON(`{"a":{"b":null},"tags":["x",null,3]}`)
	v, ok := Lookup(obj, "a.b")
	Required(&e, v, ok, At("", "a.b"), &Rules{}, String)
	v, ok = Lookup(obj, "a.c")
	Required(&e, v, ok, At("", "a.c"), &Rules{}, String)
	if got := Required(&e, v, ok, At("", "a.c"), &Rules{Default: MustJSON(`"d"`)}, String); got != "d" {
		t.Errorf("default = %q", got)
	}
	if got := Optional(&e, v, ok, At("", "a.c"), &Rules{}, String); got != nil {
		t.Errorf("optional absent = %v", got)
	}
	v, ok = Lookup(obj, "tags")
	Required(&e, v, ok, At("", "tags"), &Rules{}, Array(String))
	got := make([]string, len(e.list))
	for i, fe := range e.list {
		got[i] = fe.Error()
	}
	want := "a.b: must not be null|a.c: required|tags[1]: must not be null|tags[2]: expected string, got number"
	if strings.Join(got, "|") != want {
		t.Errorf("errors\n%s\nwant\n%s", strings.Join(got, "|"), want)
	}
}

func TestTextArray(t *testing.T) {
	t.Parallel()
	got := *TextArray([]string{`a"b`, `c\d`, "e,f"}, FormatString)
	if want := `{"a\"b","c\\d","e,f"}`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if TextPtr[int64](nil, FormatInt64) != nil {
		t.Error("nil is not NULL")
	}
}

func TestBatchKeepsLastRowOfAKey(t *testing.T) {
	t.Parallel()
	b := NewBatch([]*Table{{Name: "t", Columns: []string{"k", "v"}, Unicity: []string{"k"}}})
	s := func(x string) *string { return &x }
	b.Add(0, []*string{s("1"), s("old")})
	b.Add(0, []*string{s("2"), s("x")})
	b.Add(0, []*string{s("1"), s("new")})
	if b.Len(0) != 2 || *b.rows[0][0][1] != "new" {
		t.Fatalf("rows %d, first %s", b.Len(0), *b.rows[0][0][1])
	}
}

func valueOf(x any) Value {
	v, _ := ValueOf(x)
	return v
}

// TestBoundsMatchRat compares the text comparison of decimals with exact
// rational arithmetic on random plain decimals and integer bounds.
func TestBoundsMatchRat(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(1, 2))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + rng.IntN(10))
		}
		return string(b)
	}
	for range 20000 {
		s := digits(1 + rng.IntN(4))
		if rng.IntN(2) == 0 {
			s += "." + digits(1+rng.IntN(3))
		}
		if rng.IntN(3) == 0 {
			s = "-" + s
		}
		bound := big.NewRat(rng.Int64N(2001)-1000, 1)
		if got, want := cmpDecimal(s, bound), Decimal(s).Rat().Cmp(bound); got != want {
			t.Fatalf("cmpDecimal(%s, %s) = %d, want %d", s, bound.RatString(), got, want)
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			if got, want := cmpInt(i, bound), new(big.Rat).SetInt64(i).Cmp(bound); got != want {
				t.Fatalf("cmpInt(%d, %s) = %d, want %d", i, bound.RatString(), got, want)
			}
		}
	}
}

// TestBatchOwnedRowsFollowTheLastOwnerWrite checks that a second write of
// an owner in one batch drops the rows the first queued under it, leaves
// other owners' rows, and that counts are distinct rows per message.
func TestBatchOwnedRowsFollowTheLastOwnerWrite(t *testing.T) {
	s := func(v string) *string { return &v }
	b := NewBatch([]*Table{
		{Name: "orders", Columns: []string{"id"}, Unicity: []string{"id"}},
		{Name: "lines", Columns: []string{"order_id", "tag"}, Unicity: []string{"order_id", "tag"},
			Delete: "DELETE …", Owner: 0, Scope: []string{"order_id"}, OwnerKey: []string{"id"}},
	})
	b.Begin()
	b.Add(0, []*string{s("1")})
	b.Add(1, []*string{s("1"), s("a")})
	b.Add(1, []*string{s("1"), s("b")})
	b.Add(0, []*string{s("2")})
	b.Add(1, []*string{s("2"), s("a")})
	if c := b.Counts(); c["orders"] != 2 || c["lines"] != 3 {
		t.Fatalf("first message counts %v", c)
	}
	b.Begin()
	b.Add(0, []*string{s("1")})
	b.Add(1, []*string{s("1"), s("c")})
	b.Add(1, []*string{s("1"), s("c")})
	if c := b.Counts(); c["orders"] != 1 || c["lines"] != 1 {
		t.Fatalf("second message counts %v", c)
	}
	var got []string
	for _, row := range b.rows[1] {
		got = append(got, *row[0]+*row[1])
	}
	if strings.Join(got, ",") != "2a,1c" {
		t.Fatalf("lines queued: %v, want 2a,1c", got)
	}
	if len(b.claims[1]) != 2 {
		t.Fatalf("owners claimed: %v", b.claims[1])
	}
}

// TestItemsOfAnAbsentArrayIsAnError checks that a repeated entity's array
// missing from its parent's object fails the message at the array's path,
// while null and [] are no item: a parent present with its items lost must
// never complete with zero rows.
func TestItemsOfAnAbsentArrayIsAnError(t *testing.T) {
	for _, tt := range []struct {
		body    string
		items   int
		wantErr string
	}{
		{`{"id": 1, "segments": [{"c": "a"}, {"c": "b"}]}`, 2, ""},
		{`{"id": 1, "segments": []}`, 0, ""},
		{`{"id": 1, "segments": null}`, 0, ""},
		{`{"id": 1}`, 0, "segments: missing"},
		{`{"id": 1, "segments": "DG1|1"}`, 0, "segments: expected array"},
	} {
		var e Errors
		v, ok := MustJSON(tt.body).Lookup("segments")
		n := 0
		for range Items(&e, v, ok, At("", "segments")) {
			n++
		}
		err := e.Err("Message")
		switch {
		case n != tt.items:
			t.Errorf("%s: %d items, want %d", tt.body, n, tt.items)
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tt.body, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%s: error %v, want one with %q", tt.body, err, tt.wantErr)
		}
	}
}

// TestBatchCountsListEveryTable checks that a message's counts name every
// table, with 0 for a table it wrote no row to.
func TestBatchCountsListEveryTable(t *testing.T) {
	s := func(v string) *string { return &v }
	b := NewBatch([]*Table{
		{Name: "messages", Columns: []string{"id"}, Unicity: []string{"id"}},
		{Name: "diagnoses", Columns: []string{"id", "n"}, Unicity: []string{"id", "n"}},
	})
	b.Begin()
	b.Add(0, []*string{s("1")})
	c := b.Counts()
	if n, ok := c["diagnoses"]; len(c) != 2 || c["messages"] != 1 || !ok || n != 0 {
		t.Fatalf("counts %v, want messages:1 diagnoses:0", c)
	}
}
