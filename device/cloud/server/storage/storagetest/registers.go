package storagetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

func testHeartbeat(t *testing.T, e *env) {
	reg := e.point("p1")
	r, err := e.s.PointRegister(e.ctx, "p1")
	if err != nil || r.ID != reg || r.PointID != "p1" || r.Health != nil {
		t.Fatalf("point's register: %+v, %v", r, err)
	}
	_, err = e.s.PointRegister(e.ctx, "nobody")
	wantErr(t, "a point with no register", err, storage.ErrNotFound)
	_, err = e.s.Register(e.ctx, "unknown")
	wantErr(t, "an unknown register", err, storage.ErrNotFound)
	_, _, err = e.s.RecordHeartbeat(e.ctx, storage.Heartbeat{RegisterID: "unknown", At: e.now})
	wantErr(t, "an unknown register's heartbeat", err, storage.ErrNotFound)
	if asked, err := e.s.AskResume(e.ctx, "p1"); err != nil || asked {
		t.Fatalf("resume of a register never heard: %v, %v", asked, err)
	}
	_, err = e.s.AskResume(e.ctx, "nobody")
	wantErr(t, "resume with no register", err, storage.ErrNotFound)

	beat := func(stopped bool) (storage.Register, bool) {
		t.Helper()
		h := cloud.Health{Stopped: stopped, Drive: cloud.DriveHealth{Number: "D1", Warnings: []string{"w"}}}
		r, resume, err := e.s.RecordHeartbeat(e.ctx, storage.Heartbeat{RegisterID: reg, Health: h, At: e.now, Stale: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return r, resume
	}
	first := e.now
	if r, resume := beat(false); resume || !r.Since.Equal(first) || !r.LastSeen.Equal(first) || r.Health == nil {
		t.Fatalf("first heartbeat: %+v resume %v", r, resume)
	}
	e.advance(30 * time.Second)
	if r, _ := beat(false); !r.Since.Equal(first) || !r.LastSeen.Equal(e.now) {
		t.Fatalf("heartbeat in contact: since %v seen %v", r.Since, r.LastSeen)
	}
	e.advance(2 * time.Minute)
	back := e.now
	if r, _ := beat(false); !r.Since.Equal(back) {
		t.Fatalf("heartbeat after a silence: since %v, want %v", r.Since, back)
	}
	e.advance(time.Second)
	if r, _ := beat(true); !r.Since.Equal(e.now) {
		t.Fatalf("heartbeat that stopped: since %v", r.Since)
	}
	stored, err := e.s.Register(e.ctx, reg)
	if err != nil || stored.Health == nil || !stored.Health.Stopped || stored.Health.Drive.Warnings[0] != "w" {
		t.Fatalf("stored register: %+v, %v", stored, err)
	}
	if asked, err := e.s.AskResume(e.ctx, "p1"); err != nil || !asked {
		t.Fatalf("resume of a stopped register: %v, %v", asked, err)
	}
	if _, resume := beat(true); !resume {
		t.Fatal("the resume did not go out")
	}
	if _, resume := beat(true); resume {
		t.Fatal("the resume went out twice")
	}
	// A resume asked of a register that is running again by its next heartbeat is dropped.
	e.s.AskResume(e.ctx, "p1")
	if _, resume := beat(false); resume {
		t.Fatal("a resume went to a running register")
	}
	if _, resume := beat(true); resume {
		t.Fatal("a dropped resume went out later")
	}
	// Binding a new register replaces the point's last.
	if err := e.s.BindRegister(e.ctx, storage.Register{ID: "reg-new", PointID: "p1", BoundAt: e.now}); err != nil {
		t.Fatal(err)
	}
	if r, err := e.s.PointRegister(e.ctx, "p1"); err != nil || r.ID != "reg-new" {
		t.Fatalf("after a new binding: %+v, %v", r, err)
	}
	_, err = e.s.Register(e.ctx, reg)
	wantErr(t, "the replaced register", err, storage.ErrNotFound)
}

func testCommands(t *testing.T, e *env) {
	e.point("p1")
	err := e.s.PutCommand(e.ctx, "nobody", storage.Command{Command: cloud.Command{ID: "c0", Kind: cloud.CommandXReport}})
	wantErr(t, "a command to a point with no register", err, storage.ErrNotFound)
	_, err = e.s.Command(e.ctx, "p1")
	wantErr(t, "no command yet", err, storage.ErrNotFound)
	if c, err := e.s.ExchangeCommand(e.ctx, "p1", nil, e.now); err != nil || c != nil {
		t.Fatalf("exchange with no command: %+v, %v", c, err)
	}
	pc := storage.Command{Command: cloud.Command{ID: "c1", Kind: cloud.CommandXReport}, Login: "owner", Asked: e.now}
	if err := e.s.PutCommand(e.ctx, "p1", pc); err != nil {
		t.Fatal(err)
	}
	e.advance(time.Second)
	sent := e.now
	if c, err := e.s.ExchangeCommand(e.ctx, "p1", nil, e.now); err != nil || c == nil || c.ID != "c1" || c.Kind != cloud.CommandXReport {
		t.Fatalf("first exchange: %+v, %v", c, err)
	}
	e.advance(time.Second)
	if c, err := e.s.ExchangeCommand(e.ctx, "p1", nil, e.now); err != nil || c != nil {
		t.Fatalf("the command went out twice: %+v, %v", c, err)
	}
	// An outcome of another command changes nothing.
	if _, err := e.s.ExchangeCommand(e.ctx, "p1", &cloud.CommandOutcome{ID: "other"}, e.now); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.Command(e.ctx, "p1")
	if err != nil || got.Outcome != nil || !got.Sent.Equal(sent) || got.Login != "owner" {
		t.Fatalf("sent command: %+v, %v", got, err)
	}
	e.advance(time.Second)
	if _, err := e.s.ExchangeCommand(e.ctx, "p1", &cloud.CommandOutcome{ID: "c1", Kind: cloud.CommandXReport, At: e.now}, e.now); err != nil {
		t.Fatal(err)
	}
	got, err = e.s.Command(e.ctx, "p1")
	if err != nil || got.Outcome == nil || got.Outcome.ID != "c1" || !got.Answered.Equal(e.now) {
		t.Fatalf("answered command: %+v, %v", got, err)
	}
	// A new one replaces it.
	if err := e.s.PutCommand(e.ctx, "p1", storage.Command{Command: cloud.Command{ID: "c2", Kind: cloud.CommandCloseShift}, Asked: e.now}); err != nil {
		t.Fatal(err)
	}
	if c, err := e.s.ExchangeCommand(e.ctx, "p1", nil, e.now); err != nil || c == nil || c.ID != "c2" {
		t.Fatalf("the new command: %+v, %v", c, err)
	}
}

func testAccounts(t *testing.T, e *env) {
	_, err := e.s.Account(e.ctx, "owner")
	wantErr(t, "an unknown account", err, storage.ErrNotFound)
	a := storage.Account{Login: "owner", PasswordHash: []byte("hash1"), Points: []string{"p2", "p1"}}
	if err := e.s.PutAccount(e.ctx, a); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.Account(e.ctx, "owner")
	if err != nil || got.Login != "owner" || !bytes.Equal(got.PasswordHash, a.PasswordHash) || !slices.Equal(got.Points, a.Points) {
		t.Fatalf("account: %+v, %v", got, err)
	}
	wantErr(t, "a rehash over a changed hash", e.s.SetPasswordHash(e.ctx, "owner", []byte("stale"), []byte("hash2")), storage.ErrConflict)
	if err := e.s.SetPasswordHash(e.ctx, "owner", []byte("hash1"), []byte("hash2")); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.s.Account(e.ctx, "owner"); string(got.PasswordHash) != "hash2" || !slices.Equal(got.Points, a.Points) {
		t.Fatalf("after the rehash: %+v", got)
	}
	wantErr(t, "a rehash of nobody", e.s.SetPasswordHash(e.ctx, "nobody", nil, []byte("x")), storage.ErrNotFound)

	_, err = e.s.Point(e.ctx, "p1")
	wantErr(t, "an unknown point", err, storage.ErrNotFound)
	for _, id := range []string{"p2", "p1"} {
		p := storage.Point{Point: cloud.Point{ID: id, Name: "Shop " + id, INN: "7707083893"}, Account: "owner", NotifyEmail: "o@example.com"}
		if err := e.s.PutPoint(e.ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	p, err := e.s.Point(e.ctx, "p1")
	if err != nil || p.Point.Name != "Shop p1" || p.Account != "owner" || p.NotifyEmail != "o@example.com" || p.Settings {
		t.Fatalf("point: %+v, %v", p, err)
	}
	p.Settings, p.Point.Name = true, "Renamed"
	if err := e.s.PutPoint(e.ctx, p); err != nil {
		t.Fatal(err)
	}
	if p, _ := e.s.Point(e.ctx, "p1"); !p.Settings || p.Point.Name != "Renamed" {
		t.Fatalf("point replaced: %+v", p)
	}
	if got, err := e.s.PointIDs(e.ctx); err != nil || !slices.Equal(got, []string{"p1", "p2"}) {
		t.Fatalf("point ids %v, %v", got, err)
	}
}

func testShopLogins(t *testing.T, e *env) {
	l := storage.ShopLogin{User: "u1", PointID: "p1", ClientID: "shop", Salt: []byte("s1"), Hash: []byte("h1")}
	user, err := e.s.IssueShopLogin(e.ctx, l, false)
	if err != nil || user != "u1" {
		t.Fatalf("issue: %q, %v", user, err)
	}
	// The same (point, clientId) keeps its login and gets the new password.
	l2 := storage.ShopLogin{User: "u2", PointID: "p1", ClientID: "shop", Salt: []byte("s2"), Hash: []byte("h2")}
	if user, err := e.s.IssueShopLogin(e.ctx, l2, false); err != nil || user != "u1" {
		t.Fatalf("issue again: %q, %v", user, err)
	}
	got, err := e.s.ShopLogin(e.ctx, "u1")
	if err != nil || got.User != "u1" || got.PointID != "p1" || got.ClientID != "shop" || string(got.Hash) != "h2" || string(got.Salt) != "s2" {
		t.Fatalf("login: %+v, %v", got, err)
	}
	// Another clientId is another pair.
	if user, err := e.s.IssueShopLogin(e.ctx, storage.ShopLogin{User: "u3", PointID: "p1", ClientID: "other", Hash: []byte("h3")}, false); err != nil || user != "u3" {
		t.Fatalf("issue for another client: %q, %v", user, err)
	}
	// Fresh: a new login, and the old one stops working.
	if user, err := e.s.IssueShopLogin(e.ctx, storage.ShopLogin{User: "u4", PointID: "p1", ClientID: "shop", Hash: []byte("h4")}, true); err != nil || user != "u4" {
		t.Fatalf("fresh issue: %q, %v", user, err)
	}
	_, err = e.s.ShopLogin(e.ctx, "u1")
	wantErr(t, "the replaced login", err, storage.ErrNotFound)
	if got, err := e.s.ShopLogin(e.ctx, "u4"); err != nil || string(got.Hash) != "h4" {
		t.Fatalf("fresh login: %+v, %v", got, err)
	}
	if err := e.s.RevokeShopLogin(e.ctx, "u4"); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.ShopLogin(e.ctx, "u4")
	wantErr(t, "a revoked login", err, storage.ErrNotFound)
	if err := e.s.RevokeShopLogin(e.ctx, "u4"); err != nil {
		t.Fatalf("revoke twice: %v", err)
	}
	// After a revoke the pair starts afresh under the next user name.
	if user, err := e.s.IssueShopLogin(e.ctx, storage.ShopLogin{User: "u5", PointID: "p1", ClientID: "shop", Hash: []byte("h5")}, false); err != nil || user != "u5" {
		t.Fatalf("issue after the revoke: %q, %v", user, err)
	}
	if _, err := e.s.ShopLogin(e.ctx, "u3"); err != nil {
		t.Fatalf("the other client's pair: %v", err)
	}
}

func testSessions(t *testing.T, e *env) {
	s := storage.Session{Login: "owner", CSRF: "c", Expires: e.now.Add(time.Hour)}
	if err := e.s.PutSession(e.ctx, "k1", s); err != nil {
		t.Fatal(err)
	}
	if err := e.s.PutSession(e.ctx, "k2", storage.Session{Login: "owner", Expires: e.now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	got, err := e.s.Session(e.ctx, "k1", e.now)
	if err != nil || got.Login != "owner" || got.CSRF != "c" || !got.Expires.Equal(s.Expires) {
		t.Fatalf("session: %+v, %v", got, err)
	}
	_, err = e.s.Session(e.ctx, "nope", e.now)
	wantErr(t, "an unknown session", err, storage.ErrNotFound)
	_, err = e.s.Session(e.ctx, "k2", e.now.Add(time.Minute))
	wantErr(t, "an expired session", err, storage.ErrNotFound)
	if err := e.s.DropSessions(e.ctx, e.now.Add(30*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Session(e.ctx, "k2", e.now); err == nil {
		t.Fatal("an expired session survived DropSessions")
	}
	if _, err := e.s.Session(e.ctx, "k1", e.now); err != nil {
		t.Fatalf("a live session was dropped: %v", err)
	}
	if err := e.s.DeleteSession(e.ctx, "k1"); err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Session(e.ctx, "k1", e.now)
	wantErr(t, "a deleted session", err, storage.ErrNotFound)
	if err := e.s.DeleteSession(e.ctx, "k1"); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
}

func testSandbox(t *testing.T, e *env) {
	_, err := e.s.Sandbox(e.ctx)
	wantErr(t, "no sandbox yet", err, storage.ErrNotFound)
	seed := storage.SandboxSeed{
		Sandbox:  storage.Sandbox{Login: "u1", Password: "pw", RetailPointID: "p1", CabinetLogin: "cab", RetailPoints: []storage.SandboxPoint{{ID: "p1", Login: "u1"}}},
		Account:  storage.Account{Login: "cab", PasswordHash: []byte("h"), Points: []string{"p1"}},
		Points:   []storage.Point{{Point: cloud.Point{ID: "p1", Name: "Sandbox"}, Account: "cab", Settings: true}},
		Logins:   []storage.ShopLogin{{User: "u1", PointID: "p1", ClientID: "sandbox", Hash: []byte("x")}},
		Register: storage.Register{ID: "r1", PointID: "p1", BoundAt: e.now},
	}
	if err := e.s.CreateSandbox(e.ctx, seed); err != nil {
		t.Fatal(err)
	}
	sb, err := e.s.Sandbox(e.ctx)
	if err != nil || sb.RetailPointID != "p1" || len(sb.RetailPoints) != 1 || sb.CabinetLogin != "cab" {
		t.Fatalf("sandbox: %+v, %v", sb, err)
	}
	if a, err := e.s.Account(e.ctx, "cab"); err != nil || a.Points[0] != "p1" {
		t.Fatalf("sandbox account: %+v, %v", a, err)
	}
	if l, err := e.s.ShopLogin(e.ctx, "u1"); err != nil || l.PointID != "p1" {
		t.Fatalf("sandbox login: %+v, %v", l, err)
	}
	if r, err := e.s.PointRegister(e.ctx, "p1"); err != nil || r.ID != "r1" {
		t.Fatalf("sandbox register: %+v, %v", r, err)
	}
	other := seed
	other.Sandbox.Login, other.Account.Login = "u9", "cab9"
	wantErr(t, "a second sandbox", e.s.CreateSandbox(e.ctx, other), storage.ErrConflict)
	if sb, _ := e.s.Sandbox(e.ctx); sb.Login != "u1" {
		t.Fatalf("the second sandbox replaced the first: %+v", sb)
	}
	if _, err := e.s.Account(e.ctx, "cab9"); err == nil {
		t.Fatal("a refused sandbox left its account")
	}
}
