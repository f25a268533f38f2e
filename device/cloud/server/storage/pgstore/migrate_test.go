package pgstore

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// newPool opens a pool on a fresh database, closed when t ends.
func newPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func latest(t *testing.T) int {
	t.Helper()
	steps, err := readMigrations(migrations)
	if err != nil {
		t.Fatal(err)
	}
	return len(steps)
}

func versions(t *testing.T, pool *pgxpool.Pool) []int {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT version FROM schema_version ORDER BY version")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func tableExists(t *testing.T, pool *pgxpool.Pool, name string) bool {
	t.Helper()
	var ok bool
	if err := pool.QueryRow(context.Background(), "SELECT to_regclass($1) IS NOT NULL", name).Scan(&ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestMigrateFresh(t *testing.T) {
	pool := newPool(t)
	v, err := migrate(context.Background(), pool, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if want := latest(t); v != want {
		t.Fatalf("version %d, want %d", v, want)
	}
	for _, table := range []string{"accounts", "points", "shop_logins", "registers", "documents", "alert_outboxes",
		"unacked", "callback_jobs", "incidents", "alert_log", "sessions", "commands", "meta"} {
		if !tableExists(t, pool, table) {
			t.Errorf("no table %s", table)
		}
	}
}

func TestMigrateTwiceIsNoOp(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	if _, err := migrate(ctx, pool, migrations); err != nil {
		t.Fatal(err)
	}
	// A row written between the two must survive the second.
	if _, err := pool.Exec(ctx, "INSERT INTO meta (key, value) VALUES ('probe', '1')"); err != nil {
		t.Fatal(err)
	}
	v, err := migrate(ctx, pool, migrations)
	if err != nil {
		t.Fatal(err)
	}
	if want := latest(t); v != want || len(versions(t, pool)) != want {
		t.Fatalf("version %d with rows %v, want %d", v, versions(t, pool), want)
	}
	var n int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM meta WHERE key = 'probe'").Scan(&n); err != nil || n != 1 {
		t.Fatalf("the row written between the two migrations: %d, %v", n, err)
	}
}

// Nodes starting at once: each migrator on its own connection, all released
// together; every one succeeds, and each step is applied once.
func TestMigrateConcurrent(t *testing.T) {
	pool := newPool(t)
	const nodes = 6
	ctx := context.Background()
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, nodes)
	for i := range nodes {
		node, err := pgxpool.New(ctx, pool.Config().ConnString())
		if err != nil {
			t.Fatal(err)
		}
		defer node.Close()
		if err := node.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			_, errs[i] = migrate(ctx, node, migrations)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("node %d: %v", i, err)
		}
	}
	if got, want := len(versions(t, pool)), latest(t); got != want {
		t.Fatalf("%d steps recorded, want %d", got, want)
	}
}

// A step that fails leaves nothing of itself, nor of the steps before it in
// the same run: the database stays at the version it had.
func TestMigrateFailureRollsBack(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	fsys := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("CREATE TABLE a (x int);")},
	}
	if _, err := migrate(ctx, pool, fsys); err != nil {
		t.Fatal(err)
	}
	fsys["migrations/0002_b.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE b (x int);")}
	fsys["migrations/0003_c.sql"] = &fstest.MapFile{Data: []byte("CREATE TABLE c (x int); SELECT no_such_function();")}
	if _, err := migrate(ctx, pool, fsys); err == nil {
		t.Fatal("a failing step migrated")
	}
	if tableExists(t, pool, "b") || tableExists(t, pool, "c") {
		t.Error("a failed run left tables behind")
	}
	if got := versions(t, pool); len(got) != 1 {
		t.Errorf("versions %v after the failed run, want [1]", got)
	}
}

// An older kassa meeting a database a newer one migrated refuses it.
func TestMigrateRefusesNewer(t *testing.T) {
	pool := newPool(t)
	ctx := context.Background()
	newer := fstest.MapFS{
		"migrations/0001_a.sql": {Data: []byte("SELECT 1;")},
		"migrations/0002_b.sql": {Data: []byte("SELECT 1;")},
	}
	if _, err := migrate(ctx, pool, newer); err != nil {
		t.Fatal(err)
	}
	delete(newer, "migrations/0002_b.sql")
	if _, err := migrate(ctx, pool, newer); !errors.Is(err, ErrSchemaNewer) {
		t.Fatalf("got %v, want ErrSchemaNewer", err)
	}
}

func TestReadMigrationsChecksNumbers(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"gap":        {"migrations/0001_a.sql": {}, "migrations/0003_c.sql": {}},
		"repeat":     {"migrations/0001_a.sql": {}, "migrations/0001_b.sql": {}},
		"unnumbered": {"migrations/first.sql": {}},
	} {
		if _, err := readMigrations(fsys); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := readMigrations(migrations); err != nil {
		t.Errorf("the embedded steps: %v", err)
	}
}
