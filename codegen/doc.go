// Package codegen turns entity definitions (YAML, apiVersion nomnom.dev/v1,
// or one of the origin project's formats, see Formats below) into a worker: a Go package with the entity models, the decoding and
// validation of message bodies, batched upserts and the handler the worker
// runtime calls; a main for the worker binary; and golang-migrate files for
// the entity tables.
//
// Load reads and validates a folder of definitions and reports every
// problem at once as an ErrorList, each error as "file:line: key.path:
// message". Generate is a pure function from a Model to files (path →
// bytes), rendered from embedded templates, gofmt-clean and byte-for-byte
// reproducible; it never touches the disk. The CLI (nomnom generate)
// writes them and removes the files it generated before that it no longer
// produces, recognising them by Header.
//
// # Definitions
//
// One document per entity:
//
//	apiVersion: nomnom.dev/v1
//	kind: Entity
//	metadata: {name: OrderLineItem, description: one line of an order.}
//	spec:
//	  type: derived                 # root | derived
//	  repetition: repeated          # singleton | repeated (implied by the derivation)
//	  derivation:
//	    repeatedFor: {entity: Order, field: line_items, itemName: item}
//	    # or: parent: Order          (a singleton read from the parent's object)
//	  fields:
//	    - name: order_key           # snake_case; also the column name
//	      type: bigint
//	      source: {copyFrom: {entity: Order, field: order_key}}
//	    - name: quantity
//	      type: integer
//	      constraints: {minimum: 1, maximum: 50}
//	      source: {field: item.quantity}
//	  persistence:
//	    table: order_line_items     # default: snake_case of the name
//	    unicity: {fields: [order_key, line_number]}
//	    onConflict: update          # update | ignore
//
// Types: string, text, integer (int32), bigint (int64), float (float64),
// decimal (rt.Decimal, exact text, numeric(p,s)), boolean, date, timestamp
// (RFC 3339, timestamptz), uuid, json (jsonb), and arrays of scalars
// written T[] (e.g. integer[]); constraints on an array apply to each
// element.
//
// Sources: none reads the path equal to the field name; field: a.b reads a
// dotted path in the object the entity is read from (the body for a root,
// the item for a repeated entity, where itemName alone is the item itself
// and a leading "itemName." is dropped, the parent's object for a parent
// singleton); copyFrom copies a field of an ancestor (same type and
// nullability); constant is a fixed value; transform computes the value
// from input paths with a built-in (lower, upper, trim, concat with
// args.separator, coalesce) or a Go function named go:<func>, which the user
// writes in a non-generated file of the generated package with the type
// rt.Transform (the generated code refers to it, so the build fails with
// "undefined: <func>" until it exists).
//
// # Schema evolution
//
// Generate never rewrites a migration: Options.Migrations is the folder as
// it stands, and its SchemaFile (migrations/schema.json) the snapshot of the
// tables its migrations produce. The snapshot, not the SQL, is compared
// with the definitions; additive changes (new table, nullable or defaulted
// column, index, wider type or constraints) become the next numbered
// migration, and destructive ones (drop, type change, NOT NULL, narrower
// constraints, new unicity) are refused with an ErrorList that names each,
// unless Options.AllowDestructive asks for them in a migration of their
// own. A folder without a snapshot whose single 0001 migration matches the
// definitions is adopted.
//
// Rules the validator holds to, besides types and required keys:
// repeatedFor.field is a path in the parent's object; if the parent also
// declares a field reading that path, the field must be json or an array,
// and a parent field of that name computed otherwise (a transform, a
// constant, a copy or another path) is an error, since the items would be
// looked up in the message and never found.
// A persisted entity needs unicity.fields or primaryKey fields (so replays
// update rather than duplicate), none of them nullable. Table and column
// names must be snake_case and not PostgreSQL reserved words (they are
// never quoted), nor system columns (xmin, ctid, …); a table holds at most
// 1,600 columns. Two fields of an entity may not become the same Go name
// (x1 and x_1). Every name the tables create in PostgreSQL (tables,
// indexes, primary keys, unique and check constraints, as PostgreSQL cuts
// them at 63 bytes) must differ from the others and from nomnom's own
// (message_status, *_schema_migrations). Derivations may nest to any depth
// but not loop. Every error names a file and a line.
//
// # Formats
//
// Three formats load into the same Model (Entity.Format says which), so
// validate, generate and convert treat them alike:
//
//   - nomnom's own, above, under APIVersion (nomnom.dev/v1); files written
//     before nomnom had an apiVersion of its own say nomnom.io/v1 and still
//     load;
//   - the origin project's nomnom.io/v1 schema (originv1.go): a document under nomnom.io/v1 is the origin's when it
//     uses a construct only the origin has (labels, annotations, doc,
//     camelCase names, flat copyFrom, a string transform, parents,
//     legacyMapping, an index method, status); camelCase names are the JSON
//     keys and their snake_case the columns;
//   - the origin project's legacy `entity:` files (legacy.go).
//
// What the origin can say and nomnom cannot (a transform that is not built
// in, default now(), legacyMapping, an index method other than btree,
// parents on two lines of descent) is an error at its line that says what
// to write instead, never dropped. Convert writes any of them in nomnom's
// own format.
package codegen
