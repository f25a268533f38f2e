package pgstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/device/cloud/server/storage/pgstore/pgtest"
)

func TestClassify(t *testing.T) {
	full := &pgconn.PgError{Severity: "ERROR", Code: "53100", Message: "could not extend file: No space left on device"}
	for _, tc := range []struct {
		name    string
		err     error
		noSpace bool
	}{
		{"disk full", full, true},
		{"wrapped", fmt.Errorf("pgstore: session: %w", full), true},
		{"out of memory", &pgconn.PgError{Code: "53200"}, false},
		{"unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"no rows", pgx.ErrNoRows, false},
		{"conflict", storage.ErrConflict, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := classify(tc.err)
			if errors.Is(got, storage.ErrNoSpace) != tc.noSpace {
				t.Fatalf("classify(%v) = %v: ErrNoSpace %v, want %v", tc.err, got, !tc.noSpace, tc.noSpace)
			}
			var pe *pgconn.PgError
			if !errors.Is(got, tc.err) || errors.As(tc.err, &pe) && !errors.As(got, &pe) {
				t.Fatalf("classify(%v) = %v lost the error", tc.err, got)
			}
			if tc.noSpace && classify(got) != got {
				t.Fatalf("classify of a classified error wrapped it again: %v", classify(got))
			}
		})
	}
	if classify(nil) != nil {
		t.Fatal("classify(nil) is not nil")
	}
}

// A disk_full raised by the server reaches the methods' callers as
// storage.ErrNoSpace, whether the method is one statement or a transaction.
// (A trigger raises it: a test cannot fill the disk.)
func TestMethodsNoSpace(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.DSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateAccount(ctx, storage.Account{Login: "owner"}); err != nil {
		t.Fatal(err)
	}
	_, err = s.pool.Exec(ctx, `CREATE FUNCTION full_disk() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$;
		CREATE TRIGGER full_disk BEFORE INSERT ON points FOR EACH ROW EXECUTE FUNCTION full_disk();
		CREATE TRIGGER full_disk BEFORE INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION full_disk();
		CREATE TRIGGER full_disk BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION full_disk();`)
	if err != nil {
		t.Fatal(err)
	}
	point := storage.Point{Point: cloud.Point{ID: "p1"}, Account: "owner"}
	for name, err := range map[string]error{
		"CreateAccount": s.CreateAccount(ctx, storage.Account{Login: "new"}),
		"CreatePoint":   s.CreatePoint(ctx, point),
		"PutPoint":      s.PutPoint(ctx, point),
		"PutSession":    s.PutSession(ctx, "k", storage.Session{Login: "owner"}),
	} {
		var pe *pgconn.PgError
		if !errors.Is(err, storage.ErrNoSpace) || !errors.As(err, &pe) || pe.Code != "53100" {
			t.Errorf("%s on a full disk: %v", name, err)
		}
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("ping with a full disk: %v", err)
	}
}
