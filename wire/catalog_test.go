package wire_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nomnom-io/nomnom/internal/testsvc"
	"github.com/nomnom-io/nomnom/wire"
)

func TestCatalogValidate(t *testing.T) {
	t.Parallel()
	good := func() wire.Catalog {
		return wire.Catalog{Worker: "shop-worker", Tables: []wire.CatalogTable{
			{Entity: "Order", Table: "orders", Keys: []string{"order_key"}, Fields: []string{"order_key", "total"}},
		}}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("valid catalog: %v", err)
	}
	for _, tc := range []struct {
		name   string
		change func(*wire.Catalog)
		want   string
	}{
		{"worker", func(c *wire.Catalog) { c.Worker = "a.b" }, `catalog worker "a.b"`},
		{"table quote", func(c *wire.Catalog) { c.Tables[0].Table = `orders"; drop` }, `tables[0].table`},
		{"table upper", func(c *wire.Catalog) { c.Tables[0].Table = "Orders" }, `tables[0].table "Orders"`},
		{"field", func(c *wire.Catalog) { c.Tables[0].Fields[1] = "to tal" }, `tables[0].fields[1] "to tal"`},
		{"key not field", func(c *wire.Catalog) { c.Tables[0].Keys = []string{"id"} }, `tables[0].keys[0] "id"`},
		{"no keys", func(c *wire.Catalog) { c.Tables[0].Keys = nil }, `needs keys`},
	} {
		c := good()
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func TestCatalogPublishRead(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js, err := jetstream.New(testsvc.Connect(t, testsvc.NATS(t)))
	if err != nil {
		t.Fatal(err)
	}
	top := testsvc.Topology(t)
	if got, err := wire.ReadCatalogs(ctx, js, top); err != nil || len(got) != 0 {
		t.Fatalf("before any publish: %v, %v; want none, nil", got, err)
	}
	c := wire.Catalog{Worker: "shop-worker", Tables: []wire.CatalogTable{
		{Entity: "Order", Table: "orders", Keys: []string{"order_key"}, Fields: []string{"order_key", "total"}},
	}}
	if err := wire.PublishCatalog(ctx, js, top, c); err != nil {
		t.Fatal(err)
	}
	if err := wire.PublishCatalog(ctx, js, top, wire.Catalog{Worker: "bad", Tables: []wire.CatalogTable{{Table: "x y"}}}); err == nil {
		t.Fatal("an invalid catalog was published")
	}
	kv, err := js.KeyValue(ctx, top.CatalogBucket())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "forged", []byte(`{"worker":"forged","tables":[{"table":"pg_authid","keys":["x"],"fields":["y"]}]}`)); err != nil {
		t.Fatal(err)
	}
	got, err := wire.ReadCatalogs(ctx, js, top)
	if err == nil || !strings.Contains(err.Error(), "forged") {
		t.Errorf("a catalog with a key outside its fields was read without an error naming it: %v", err)
	}
	if len(got) != 1 || got[0].Worker != "shop-worker" || got[0].Tables[0].Table != "orders" {
		t.Errorf("catalogs: %+v, want the one published", got)
	}
}
