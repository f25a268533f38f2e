package pgtest_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Each DSN is a database of its own: a table made in one is absent from the other.
func TestDatabasesAreSeparate(t *testing.T) {
	ctx := context.Background()
	a, b := connect(t, pgtest.DSN(t)), connect(t, pgtest.DSN(t))
	if _, err := a.Exec(ctx, "CREATE TABLE only_in_a (x int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRow(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("a table made in one test's database shows in another's")
	}
}

// The cluster listens on its socket only, in UTF-8, with fsync off.
func TestSettings(t *testing.T) {
	ctx := context.Background()
	conn := connect(t, pgtest.DSN(t))
	for name, want := range map[string]string{
		"listen_addresses":        "",
		"server_encoding":         "UTF8",
		"fsync":                   "off",
		"unix_socket_directories": pgtest.Dir(t),
	} {
		var got string
		if err := conn.QueryRow(ctx, "SELECT current_setting($1)", name).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// A database is dropped with its test, even with a connection left open.
func TestDropOnCleanup(t *testing.T) {
	var name string
	t.Run("inner", func(t *testing.T) {
		// Left open past the drop: the drop must end it.
		conn, err := pgx.Connect(context.Background(), pgtest.DSN(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(context.Background(), "SELECT current_database()").Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	conn := connect(t, pgtest.DSN(t))
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM pg_database WHERE datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("database %s outlived its test", name)
	}
}
