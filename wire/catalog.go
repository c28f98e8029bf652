package wire

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	"github.com/nats-io/nats.go/jetstream"
)

// Catalog describes the entity tables one worker writes: what the console
// needs to show them without linking any entity code. Each worker publishes
// its catalog at start into the catalog bucket, under its own name.
type Catalog struct {
	// Worker names the worker binary (and the bucket key), e.g. "tpch-worker".
	Worker string `json:"worker"`
	// Tables are the persisted entities, parents first.
	Tables []CatalogTable `json:"tables"`
}

// CatalogTable is one entity table.
type CatalogTable struct {
	Entity string   `json:"entity"`
	Table  string   `json:"table"`
	Keys   []string `json:"keys"`
	Fields []string `json:"fields"`
}

// identRe is what codegen accepts as a table or column name: snake_case.
// The console quotes every identifier too; this bound keeps a catalog from
// naming anything else.
var identRe = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// Bounds of a catalog, so that a bad publisher cannot make the console read
// an unbounded document.
const (
	maxCatalogTables = 256
	maxCatalogFields = 512
	// MaxCatalogBytes bounds one published catalog.
	MaxCatalogBytes = 256 << 10
)

// Validate reports the first name of c that is not a plain snake_case
// identifier, a table without keys, or a key that is not one of its fields.
func (c Catalog) Validate() error {
	if !nameRe.MatchString(c.Worker) {
		return fmt.Errorf("catalog worker %q: only letters, digits, '-' and '_' are allowed", c.Worker)
	}
	if len(c.Tables) > maxCatalogTables {
		return fmt.Errorf("catalog of %s: %d tables, at most %d", c.Worker, len(c.Tables), maxCatalogTables)
	}
	for i, t := range c.Tables {
		where := fmt.Sprintf("catalog of %s: tables[%d]", c.Worker, i)
		if !identRe.MatchString(t.Table) {
			return fmt.Errorf("%s.table %q: not a snake_case identifier", where, t.Table)
		}
		if len(t.Keys) == 0 || len(t.Fields) == 0 || len(t.Fields) > maxCatalogFields {
			return fmt.Errorf("%s (%s): needs keys and 1 to %d fields", where, t.Table, maxCatalogFields)
		}
		fields := map[string]bool{}
		for j, f := range t.Fields {
			if !identRe.MatchString(f) {
				return fmt.Errorf("%s.fields[%d] %q: not a snake_case identifier", where, j, f)
			}
			fields[f] = true
		}
		for j, k := range t.Keys {
			if !fields[k] {
				return fmt.Errorf("%s.keys[%d] %q: not one of the table's fields", where, j, k)
			}
		}
	}
	return nil
}

// CatalogBucket is the name of the KV bucket of worker catalogs.
func (t Topology) CatalogBucket() string { return t.Stream + "_CATALOG" }

// CatalogBucketConfig is the one configuration of the catalog bucket: one
// key per worker, the latest catalog only.
func (t Topology) CatalogBucketConfig() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:       t.CatalogBucket(),
		Description:  "nomnom entity tables, one catalog per worker",
		History:      1,
		MaxValueSize: MaxCatalogBytes,
		Storage:      jetstream.FileStorage,
		Replicas:     t.Replicas,
	}
}

// PublishCatalog validates c and stores it under its worker's name,
// creating the bucket when needed.
func PublishCatalog(ctx context.Context, js jetstream.JetStream, t Topology, c Catalog) error {
	if err := c.Validate(); err != nil {
		return err
	}
	data, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("catalog of %s: %w", c.Worker, err)
	}
	kv, err := js.CreateOrUpdateKeyValue(ctx, t.CatalogBucketConfig())
	if err != nil {
		return fmt.Errorf("ensure bucket %s: %w", t.CatalogBucket(), err)
	}
	if _, err := kv.Put(ctx, c.Worker, data); err != nil {
		return fmt.Errorf("publish catalog of %s: %w", c.Worker, err)
	}
	return nil
}

// ReadCatalogs returns every valid catalog of the bucket, and an error
// naming each key whose value is not one; no bucket yet is no catalog.
func ReadCatalogs(ctx context.Context, js jetstream.JetStream, t Topology) ([]Catalog, error) {
	kv, err := js.KeyValue(ctx, t.CatalogBucket())
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", t.CatalogBucket(), err)
	}
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", t.CatalogBucket(), err)
	}
	var (
		out  []Catalog
		errs []error
	)
	for key := range keys.Keys() {
		entry, err := kv.Get(ctx, key)
		if err != nil {
			errs = append(errs, fmt.Errorf("catalog %s: %w", key, err))
			continue
		}
		var c Catalog
		if err := json.Unmarshal(entry.Value(), &c); err != nil {
			errs = append(errs, fmt.Errorf("catalog %s: %w", key, err))
			continue
		}
		if err := c.Validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	return out, errors.Join(errs...)
}
