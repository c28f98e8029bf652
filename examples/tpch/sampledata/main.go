// Command sampledata writes the example's deterministic sample messages:
// testdata/orders.ndjson (orders with 1 to 7 line items, mostly 4),
// customers.ndjson, products.ndjson, and bad_orders.ndjson, whose messages
// are each invalid in a known way; every bad message lists the error paths
// it must produce under "_expect_errors" (a key the entities ignore).
//
//	go run ./examples/tpch/sampledata [-out examples/tpch/testdata] [-orders 300]
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"
)

func main() {
	out := flag.String("out", filepath.Join("examples", "tpch", "testdata"), "output folder")
	orders := flag.Int("orders", 300, "number of orders")
	flag.Parse()
	for name, data := range Files(*orders) {
		if err := os.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

const (
	customers = 50
	products  = 100
)

// Files returns the sample files by name; the same n gives the same bytes.
func Files(n int) map[string][]byte {
	rng := rand.New(rand.NewPCG(1994, 2))
	return map[string][]byte{
		"customers.ndjson":  ndjson(customerBodies(rng)),
		"products.ndjson":   ndjson(productBodies(rng)),
		"orders.ndjson":     ndjson(orderBodies(rng, n)),
		"bad_orders.ndjson": ndjson(badOrders()),
	}
}

type obj = map[string]any

func ndjson(bodies []obj) []byte {
	var b bytes.Buffer
	for _, body := range bodies {
		data, err := json.Marshal(body) // maps marshal with sorted keys
		if err != nil {
			panic(err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// money writes cents as an exact decimal JSON number.
func money(cents int64) json.Number {
	sign := ""
	if cents < 0 {
		sign, cents = "-", -cents
	}
	return json.Number(fmt.Sprintf("%s%d.%02d", sign, cents/100, cents%100))
}

var segments = []string{"AUTOMOBILE", "BUILDING", "FURNITURE", "HOUSEHOLD", "MACHINERY"}

func customerBodies(rng *rand.Rand) []obj {
	var out []obj
	for k := 1; k <= customers; k++ {
		nation := rng.IntN(25)
		a, b, c := rng.IntN(900)+100, rng.IntN(900)+100, rng.IntN(9000)+1000
		// Senders punctuate phone numbers differently; normalizePhone
		// brings them to one form.
		phones := []string{
			fmt.Sprintf("%02d-%d-%d-%d", nation+10, a, b, c),
			fmt.Sprintf("+%02d %d %d %d", nation+10, a, b, c),
			fmt.Sprintf("(%02d) %d.%d.%d", nation+10, a, b, c),
		}
		body := obj{
			"cust_key":       k,
			"name":           fmt.Sprintf("  Customer#%09d ", k),
			"address":        fmt.Sprintf("%d Market Street", rng.IntN(999)+1),
			"nation_key":     nation,
			"phone":          phones[k%3],
			"acct_bal":       money(rng.Int64N(1_099_998) - 99_999),
			"market_segment": segments[rng.IntN(len(segments))],
		}
		if k%4 != 0 {
			body["comment"] = "regular accounts haggle carefully"
		}
		out = append(out, body)
	}
	return out
}

var (
	brands     = []string{"Brand#11", "Brand#12", "Brand#23", "Brand#34", "Brand#45"}
	types      = []string{"STANDARD POLISHED TIN", "SMALL PLATED BRASS", "MEDIUM BURNISHED COPPER", "LARGE BRUSHED STEEL"}
	containers = []string{"SM CASE", "MED BOX", "LG PACK", "JUMBO JAR"}
)

func productBodies(rng *rand.Rand) []obj {
	var out []obj
	for k := 1; k <= products; k++ {
		body := obj{
			"part_key":     k,
			"name":         fmt.Sprintf("goldenrod lavender part %d", k),
			"manufacturer": fmt.Sprintf("Manufacturer#%d", rng.IntN(5)+1),
			"brand":        brands[rng.IntN(len(brands))],
			"type":         types[rng.IntN(len(types))],
			"size":         rng.IntN(50) + 1,
			"retail_price": money(90_000 + int64(k)*10 + rng.Int64N(1000)),
		}
		if k%3 == 0 {
			body["container"] = containers[rng.IntN(len(containers))]
		}
		out = append(out, body)
	}
	return out
}

var (
	priorities = []string{"1-URGENT", "2-HIGH", "3-MEDIUM", "4-NOT SPECIFIED", "5-LOW"}
	shipModes  = []string{"REG AIR", "air", "Rail", "SHIP", "truck", "MAIL", "FOB"}
	returns    = []string{"R", "A", "N"}
)

func lineCount(rng *rand.Rand) int {
	if rng.IntN(10) < 6 {
		return 4
	}
	return rng.IntN(7) + 1
}

func orderBodies(rng *rand.Rand, n int) []obj {
	start := time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC)
	var out []obj
	for k := 1; k <= n; k++ {
		date := start.AddDate(0, 0, rng.IntN(1500))
		var items []any
		var total int64
		for l := 1; l <= lineCount(rng); l++ {
			qty := rng.IntN(50) + 1
			price := int64(qty) * (90_000 + rng.Int64N(10_000)) / 10
			discount, tax := rng.Int64N(11), rng.Int64N(9)
			total += price * (100 - discount) * (100 + tax) / 10_000
			ship := date.AddDate(0, 0, rng.IntN(120)+1)
			item := obj{
				"line_number":    l,
				"part_key":       rng.IntN(products) + 1,
				"quantity":       qty,
				"extended_price": money(price),
				"discount":       money(discount),
				"tax":            money(tax),
				"return_flag":    returns[rng.IntN(len(returns))],
				"line_status":    "O",
				"ship_date":      ship.Format(time.DateOnly),
				"commit_date":    ship.AddDate(0, 0, rng.IntN(60)-30).Format(time.DateOnly),
				"ship_mode":      shipModes[rng.IntN(len(shipModes))],
			}
			if rng.IntN(2) == 0 {
				item["receipt_date"] = ship.AddDate(0, 0, rng.IntN(30)+1).Format(time.DateOnly)
				item["line_status"] = "F"
			}
			if rng.IntN(3) == 0 {
				item["comment"] = "furiously final deposits"
			}
			items = append(items, item)
		}
		body := obj{
			"order_key":     k,
			"customer_key":  rng.IntN(customers) + 1,
			"status":        []string{"O", "F", "P"}[rng.IntN(3)],
			"total_price":   money(total),
			"order_date":    date.Format(time.DateOnly),
			"priority":      priorities[rng.IntN(len(priorities))],
			"clerk":         fmt.Sprintf("Clerk#%09d", rng.IntN(1000)+1),
			"ship_priority": 0,
			"line_items":    items,
		}
		if k%5 != 0 {
			body["comment"] = "quickly express requests sleep"
		}
		out = append(out, body)
	}
	return out
}

// badOrders are invalid orders, each with the error paths it must produce.
func badOrders() []obj {
	good := func() obj {
		return obj{
			"order_key": 900001, "customer_key": 1, "status": "O", "total_price": json.Number("100.00"),
			"order_date": "1996-01-02", "priority": "1-URGENT", "clerk": "Clerk#000000001",
			"line_items": []any{
				obj{"line_number": 1, "part_key": 1, "quantity": 1, "extended_price": json.Number("50.00"), "discount": json.Number("0.05"),
					"return_flag": "N", "line_status": "O", "ship_date": "1996-01-03", "ship_mode": "AIR"},
				obj{"line_number": 2, "part_key": 2, "quantity": 2, "extended_price": json.Number("50.00"), "discount": json.Number("0.00"),
					"return_flag": "N", "line_status": "O", "ship_date": "1996-01-03", "ship_mode": "AIR"},
			},
		}
	}
	item := func(o obj, i int) obj { return o["line_items"].([]any)[i].(obj) }
	var out []obj
	add := func(paths []string, mutate func(o obj)) {
		o := good()
		mutate(o)
		o["_expect_errors"] = paths
		out = append(out, o)
	}
	add([]string{"line_items[1].quantity"}, func(o obj) { item(o, 1)["quantity"] = "two" })
	add([]string{"line_items[0].quantity"}, func(o obj) { item(o, 0)["quantity"] = 0 })
	add([]string{"total_price"}, func(o obj) { o["total_price"] = json.Number("100.001") })
	add([]string{"status"}, func(o obj) { o["status"] = "X" })
	add([]string{"order_date"}, func(o obj) { o["order_date"] = "1996-13-45" })
	add([]string{"order_key"}, func(o obj) { o["order_key"] = "abc" })
	add([]string{"comment", "ship_priority"}, func(o obj) {
		o["comment"] = 42
		o["ship_priority"] = -1
	})
	add([]string{"clerk"}, func(o obj) { o["clerk"] = "Bob" })
	add([]string{"line_items[0].discount", "line_items[1].ship_mode"}, func(o obj) {
		item(o, 0)["discount"] = json.Number("1.50")
		item(o, 1)["ship_mode"] = "CARRIER PIGEON"
	})
	add([]string{"line_items[1].ship_date", "line_items[1].extended_price"}, func(o obj) {
		delete(item(o, 1), "ship_date")
		item(o, 1)["extended_price"] = 12.5e300
	})
	add([]string{"line_items"}, func(o obj) { o["line_items"] = "none" })
	return out
}
