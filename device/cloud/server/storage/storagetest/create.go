package storagetest

import (
	"bytes"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// concurrency is how many goroutines the concurrent cases run at once.
const concurrency = 16

// together runs f(0..n-1) in n goroutines released at once and returns their errors.
func together(n int, f func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = f(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

func (e *env) account(login string) storage.Account {
	e.t.Helper()
	a, err := e.s.Account(e.ctx, login)
	if err != nil {
		e.t.Fatal(err)
	}
	return a
}

func testCreateAccount(t *testing.T, e *env) {
	a := storage.Account{Login: "owner", PasswordHash: []byte("hash1"), Points: []string{"p2", "p1"}}
	if err := e.s.CreateAccount(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	if got := e.account("owner"); !bytes.Equal(got.PasswordHash, a.PasswordHash) || !slices.Equal(got.Points, a.Points) {
		t.Fatalf("created account: %+v", got)
	}
	again := storage.Account{Login: "owner", PasswordHash: []byte("hash2"), Points: []string{"p3"}}
	wantErr(t, "a second create of the login", e.s.CreateAccount(e.ctx, again), storage.ErrConflict)
	if got := e.account("owner"); !bytes.Equal(got.PasswordHash, a.PasswordHash) || !slices.Equal(got.Points, a.Points) {
		t.Fatalf("a refused create changed the account: %+v", got)
	}
	// An account made by PutAccount exists as much.
	if err := e.s.PutAccount(e.ctx, storage.Account{Login: "put", PasswordHash: []byte("h")}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a create over a put account", e.s.CreateAccount(e.ctx, storage.Account{Login: "put"}), storage.ErrConflict)
	if err := e.s.CreateAccount(e.ctx, storage.Account{Login: ""}); err == nil {
		t.Fatal("an account without a login was created")
	}
}

func testCreateAccountConcurrent(t *testing.T, e *env) {
	errs := together(concurrency, func(i int) error {
		return e.s.CreateAccount(e.ctx, storage.Account{Login: "owner", PasswordHash: fmt.Appendf(nil, "hash%d", i)})
	})
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("creates %d and %d both succeeded", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, fmt.Sprintf("create %d", i), err, storage.ErrConflict)
		}
	}
	if winner < 0 {
		t.Fatal("no create succeeded")
	}
	if got := e.account("owner"); string(got.PasswordHash) != fmt.Sprintf("hash%d", winner) {
		t.Fatalf("stored hash %q, the successful create was %d", got.PasswordHash, winner)
	}
}

func newPoint(id, account string) storage.Point {
	return storage.Point{Point: cloud.Point{ID: id, Name: "Shop " + id, INN: "7707083893"}, Account: account,
		Settings: true, NotifyEmail: "o@example.com", WebhookURL: "https://example.com/hook"}
}

func testCreatePoint(t *testing.T, e *env) {
	wantErr(t, "a point of no account", e.s.CreatePoint(e.ctx, newPoint("p1", "owner")), storage.ErrNotFound)
	_, err := e.s.Point(e.ctx, "p1")
	wantErr(t, "the point of no account", err, storage.ErrNotFound)

	for _, login := range []string{"owner", "other"} {
		if err := e.s.CreateAccount(e.ctx, storage.Account{Login: login, PasswordHash: []byte("h"), Points: []string{"old"}}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"p2", "p1"} {
		if err := e.s.CreatePoint(e.ctx, newPoint(id, "owner")); err != nil {
			t.Fatal(err)
		}
	}
	if got := e.account("owner"); !slices.Equal(got.Points, []string{"old", "p2", "p1"}) || string(got.PasswordHash) != "h" {
		t.Fatalf("account after two points: %+v", got)
	}
	p, err := e.s.Point(e.ctx, "p1")
	if err != nil || p != newPoint("p1", "owner") {
		t.Fatalf("created point: %+v, %v", p, err)
	}

	// A point's id is taken whatever account asks again.
	for _, login := range []string{"owner", "other"} {
		other := newPoint("p1", login)
		other.Point.Name = "Another"
		wantErr(t, "a second create of p1 for "+login, e.s.CreatePoint(e.ctx, other), storage.ErrConflict)
	}
	if p, _ := e.s.Point(e.ctx, "p1"); p.Point.Name != "Shop p1" || p.Account != "owner" {
		t.Fatalf("a refused create changed the point: %+v", p)
	}
	if got := e.account("owner"); !slices.Equal(got.Points, []string{"old", "p2", "p1"}) {
		t.Fatalf("a refused create changed the account's points: %v", got.Points)
	}
	if got := e.account("other"); !slices.Equal(got.Points, []string{"old"}) {
		t.Fatalf("a refused create changed another account's points: %v", got.Points)
	}
	// A point made by PutPoint exists as much.
	if err := e.s.PutPoint(e.ctx, newPoint("put", "other")); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "a create over a put point", e.s.CreatePoint(e.ctx, newPoint("put", "other")), storage.ErrConflict)
	if got := e.account("other"); !slices.Equal(got.Points, []string{"old"}) {
		t.Fatalf("a refused create changed the account's points: %v", got.Points)
	}
	// An id the account lists already is not listed twice.
	if err := e.s.CreatePoint(e.ctx, newPoint("old", "other")); err != nil {
		t.Fatal(err)
	}
	if got := e.account("other"); !slices.Equal(got.Points, []string{"old"}) {
		t.Fatalf("a listed point was listed again: %v", got.Points)
	}
	// An account with no points yet.
	if err := e.s.CreateAccount(e.ctx, storage.Account{Login: "bare"}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.CreatePoint(e.ctx, newPoint("b1", "bare")); err != nil {
		t.Fatal(err)
	}
	if got := e.account("bare"); !slices.Equal(got.Points, []string{"b1"}) {
		t.Fatalf("the first point of an account: %v", got.Points)
	}
	if ids, err := e.s.PointIDs(e.ctx); err != nil || !slices.Equal(ids, []string{"b1", "old", "p1", "p2", "put"}) {
		t.Fatalf("point ids %v, %v", ids, err)
	}
	if err := e.s.CreatePoint(e.ctx, newPoint("", "owner")); err == nil {
		t.Fatal("a point without an id was created")
	}
}

// Concurrent creates of one account's points lose none of them from its
// list (an admin's PutPoint and then a read-modify-write of the account
// would), and concurrent creates of one id make it once.
func testCreatePointConcurrent(t *testing.T, e *env) {
	if err := e.s.CreateAccount(e.ctx, storage.Account{Login: "owner", PasswordHash: []byte("h"), Points: []string{"first"}}); err != nil {
		t.Fatal(err)
	}
	want := make([]string, concurrency)
	for i := range want {
		want[i] = fmt.Sprintf("p%02d", i)
	}
	for i, err := range together(concurrency, func(i int) error { return e.s.CreatePoint(e.ctx, newPoint(want[i], "owner")) }) {
		if err != nil {
			t.Fatalf("create %s: %v", want[i], err)
		}
	}
	got := e.account("owner").Points
	if len(got) == 0 || got[0] != "first" {
		t.Fatalf("the account's points %v lost the first", got)
	}
	if sorted := slices.Sorted(slices.Values(got[1:])); !slices.Equal(sorted, want) {
		t.Fatalf("the account's points after %d concurrent creates: %v", concurrency, got)
	}
	for _, id := range want {
		if p, err := e.s.Point(e.ctx, id); err != nil || p.Account != "owner" {
			t.Fatalf("point %s: %+v, %v", id, p, err)
		}
	}

	// One id, created at once for one account and for another.
	if err := e.s.CreateAccount(e.ctx, storage.Account{Login: "other"}); err != nil {
		t.Fatal(err)
	}
	owners := []string{"owner", "other"}
	errs := together(concurrency, func(i int) error { return e.s.CreatePoint(e.ctx, newPoint("same", owners[i%2])) })
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("creates %d and %d of one point both succeeded", winner, i)
		case err == nil:
			winner = i
		default:
			wantErr(t, fmt.Sprintf("create %d of one point", i), err, storage.ErrConflict)
		}
	}
	if winner < 0 {
		t.Fatal("no create of the point succeeded")
	}
	p, err := e.s.Point(e.ctx, "same")
	if err != nil || p.Account != owners[winner%2] {
		t.Fatalf("the point: %+v, %v; create %d succeeded", p, err, winner)
	}
	for _, login := range owners {
		n := 0
		for _, id := range e.account(login).Points {
			if id == "same" {
				n++
			}
		}
		if want := map[bool]int{true: 1, false: 0}[login == p.Account]; n != want {
			t.Fatalf("account %s lists the point %d times, want %d", login, n, want)
		}
	}
}

func testPing(t *testing.T, e *env) {
	if err := e.s.Ping(e.ctx); err != nil {
		t.Fatalf("ping of an open store: %v", err)
	}
	if err := e.s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Ping(e.ctx); err == nil {
		t.Fatal("ping of a closed store succeeded")
	}
}
