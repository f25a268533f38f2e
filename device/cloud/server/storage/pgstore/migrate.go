package pgstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The schema's steps, NNNN_what.sql, applied in the order of their numbers.
// A step, once released, is never edited: a change is a new step.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the key of the advisory lock that makes nodes starting at
// once migrate one after the other: the second finds the work done.
const migrationLock = 0x6b61737361 // "kassa"

// ErrSchemaNewer: the database was migrated by a newer kassa than this one,
// whose code may not understand its tables.
var ErrSchemaNewer = errors.New("pgstore: the database's schema is newer than this kassa")

type migration struct {
	version int
	name    string
	sql     string
}

// readMigrations lists the steps in fsys's migrations/ in order, checking that
// their numbers run 1, 2, 3… with neither gap nor repeat.
func readMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		base := path.Base(name)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("pgstore: migration %s: the name must be NNNN_what.sql", base)
		}
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	slices.SortFunc(out, func(a, b migration) int { return a.version - b.version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("pgstore: migration %s: number %d, want %d", m.name, m.version, i+1)
		}
	}
	return out, nil
}

// migrate brings the database to the newest schema in fsys, in one
// transaction: every step applies, or none does. It returns the version the
// database then has.
//
// PostgreSQL only: pg_advisory_xact_lock, the wait of a second node for the
// first. On an engine without advisory locks (CockroachDB), two racing
// migrators collide on schema_version's key and one fails: start one node
// first there.
func migrate(ctx context.Context, pool *pgxpool.Pool, fsys fs.FS) (int, error) {
	steps, err := readMigrations(fsys)
	if err != nil {
		return 0, err
	}
	var version int
	err = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", int64(migrationLock)); err != nil {
			return fmt.Errorf("pgstore: migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_version (
			version integer PRIMARY KEY,
			name    text NOT NULL,
			applied timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("pgstore: schema_version: %w", err)
		}
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_version").Scan(&version); err != nil {
			return fmt.Errorf("pgstore: schema_version: %w", err)
		}
		if version > len(steps) {
			return fmt.Errorf("%w: version %d, this kassa knows %d", ErrSchemaNewer, version, len(steps))
		}
		for _, m := range steps[version:] {
			// No arguments: the simple protocol, which takes a file of statements.
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, "INSERT INTO schema_version (version, name) VALUES ($1, $2)", m.version, m.name); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", m.name, err)
			}
			version = m.version
		}
		return nil
	})
	if err != nil {
		return 0, classify(err)
	}
	return version, nil
}
