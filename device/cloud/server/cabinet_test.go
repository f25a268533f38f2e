package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/cloudtest"
	kmail "github.com/openkassa/kassa/device/cloud/server/mail"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/ofd/sim"
	"golang.org/x/crypto/bcrypt"
)

// owner is a cabinet user: a cookie jar and the last page's CSRF token.
type owner struct {
	t    *testing.T
	f    *fixture
	hc   *http.Client
	csrf string
}

func (f *fixture) owner() *owner {
	jar, _ := cookiejar.New(nil)
	return &owner{t: f.t, f: f, hc: &http.Client{Jar: jar}}
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (o *owner) do(req *http.Request) (int, string) {
	o.t.Helper()
	resp, err := o.hc.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if m := csrfRe.FindSubmatch(data); m != nil {
		o.csrf = string(m[1])
	}
	return resp.StatusCode, string(data)
}

func (o *owner) get(path string) (int, string) {
	o.t.Helper()
	req, _ := http.NewRequest("GET", o.f.http.URL+path, nil)
	return o.do(req)
}

// post sends the form with the current CSRF token unless the form has its own.
func (o *owner) post(path string, form url.Values) (int, string) {
	o.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", o.csrf)
	}
	req, _ := http.NewRequest("POST", o.f.http.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return o.do(req)
}

func (o *owner) login(login, pass string) (int, string) {
	o.t.Helper()
	o.get("/cabinet/login")
	return o.post("/cabinet/login", url.Values{"login": {login}, "password": {pass}})
}

func (o *owner) mustLogin() {
	o.t.Helper()
	if code, body := o.login(o.f.sb.CabinetLogin, o.f.sb.CabinetPassword); code != http.StatusOK || !strings.Contains(body, "Кассы") {
		o.t.Fatalf("log-in: HTTP %d %.300s", code, body)
	}
}

func TestCabinetLogin(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost, LoginAttempts: 3, LoginWindow: 10 * time.Minute})
	o := f.owner()
	// Pages need a session.
	if code, body := o.get("/cabinet/documents"); code != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Fatalf("without a session: HTTP %d, want the log-in form", code)
	}
	if code, _ := o.login(f.sb.CabinetLogin, "wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: HTTP %d, want 401", code)
	}
	// A log-in without the form's token is refused before the password is looked at.
	if code, _ := o.post("/cabinet/login", url.Values{"login": {f.sb.CabinetLogin}, "password": {f.sb.CabinetPassword}, "csrf": {"forged"}}); code != http.StatusForbidden {
		t.Fatalf("log-in with a forged token: HTTP %d, want 403", code)
	}
	o.mustLogin()
	// The session cookie is HttpOnly and SameSite=Lax.
	req, _ := http.NewRequest("GET", f.http.URL+"/cabinet/login", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	form := url.Values{"login": {f.sb.CabinetLogin}, "password": {f.sb.CabinetPassword}}
	for _, c := range resp.Cookies() {
		if c.Name == loginCSRFCookie {
			form.Set("csrf", c.Value)
		}
	}
	req, _ = http.NewRequest("POST", f.http.URL+"/cabinet/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: loginCSRFCookie, Value: form.Get("csrf")})
	resp, err = http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sess *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			sess = c
		}
	}
	if resp.StatusCode != http.StatusSeeOther || sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteLaxMode || sess.Secure {
		t.Fatalf("log-in answer %d, cookie %+v", resp.StatusCode, sess)
	}
	// POST without the CSRF token: 403.
	if code, _ := o.post("/cabinet/registers/"+f.sb.RetailPointID+"/resume", url.Values{"csrf": {""}}); code != http.StatusForbidden {
		t.Fatalf("POST without CSRF: HTTP %d, want 403", code)
	}
	// Log out ends the session.
	if code, body := o.post("/cabinet/logout", nil); code != http.StatusOK || !strings.Contains(body, `name="password"`) {
		t.Fatalf("log-out: HTTP %d", code)
	}
	if code, _ := o.post("/cabinet/registers/"+f.sb.RetailPointID+"/resume", nil); code != http.StatusForbidden {
		t.Fatalf("POST after log-out: HTTP %d, want 403", code)
	}
}

// TestCabinetSessionAnyClock: the session cookie says how long it lives from
// now (Max-Age, no Expires), so a browser keeps it whatever the cloud's clock
// says, and the session still ends by the cloud's clock.
func TestCabinetSessionAnyClock(t *testing.T) {
	real := time.Now().UTC().Truncate(time.Second)
	for _, c := range []struct {
		name string
		at   time.Time
	}{
		{"a year behind", real.AddDate(-1, 0, 0)},
		{"a year ahead", real.AddDate(1, 0, 0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, Config{PasswordCost: bcrypt.MinCost, SessionFor: time.Hour})
			f.clock.Advance(c.at.Sub(f.clock.Now()))
			o := f.owner()
			o.get("/cabinet/login")
			form := url.Values{"login": {f.sb.CabinetLogin}, "password": {f.sb.CabinetPassword}, "csrf": {o.csrf}}
			req, _ := http.NewRequest("POST", f.http.URL+"/cabinet/login", strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for _, ck := range o.hc.Jar.Cookies(req.URL) {
				req.AddCookie(ck)
			}
			resp, err := http.DefaultTransport.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			var set []string
			for _, h := range resp.Header.Values("Set-Cookie") {
				if strings.HasPrefix(h, sessionCookie+"=") {
					set = append(set, h)
				}
			}
			if len(set) != 1 || !strings.Contains(set[0], "Max-Age=3600") || strings.Contains(set[0], "Expires=") {
				t.Fatalf("session cookie %q, want Max-Age=3600 and no Expires", set)
			}
			o.mustLogin()
			if code, body := o.get("/cabinet/documents"); code != http.StatusOK || strings.Contains(body, `name="password"`) {
				t.Fatalf("a page after log-in: HTTP %d, got the log-in form", code)
			}
			// The cloud's clock, not the browser's, ends the session.
			f.clock.Advance(time.Hour)
			if code, body := o.get("/cabinet/documents"); code != http.StatusOK || !strings.Contains(body, `name="password"`) {
				t.Fatalf("an hour later: HTTP %d, want the log-in form", code)
			}
		})
	}
}

func TestCabinetRateLimit(t *testing.T) {
	f := newFixture(t, Config{LoginAttempts: 3, LoginDelay: time.Minute})
	o := f.owner()
	for i := range 3 {
		if code, _ := o.login(f.sb.CabinetLogin, fmt.Sprint("wrong", i)); code != http.StatusUnauthorized {
			t.Fatalf("attempt %d: HTTP %d, want 401", i, code)
		}
	}
	// Now even the right password waits out the delay, from this address.
	if code, body := o.login(f.sb.CabinetLogin, f.sb.CabinetPassword); code != http.StatusTooManyRequests || !strings.Contains(body, "Повторите через 1 мин") {
		t.Fatalf("after 3 failures: HTTP %d, want 429", code)
	}
	// Another login from the same address is not held up by this one's delay.
	if code, _ := o.login("someone-else", "x"); code != http.StatusUnauthorized {
		t.Fatalf("other login, same address: HTTP %d, want 401", code)
	}
	f.clock.Advance(time.Minute)
	o.mustLogin()
}

func TestCabinetPointSettings(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost})
	o := f.owner()
	o.mustLogin()
	code, body := o.get("/cabinet/points")
	if code != http.StatusOK || !strings.Contains(body, f.sb.RetailPointID) || !strings.Contains(body, html.EscapeString(f.sb.RetailPoints[1].Name)) {
		t.Fatalf("points page: HTTP %d", code)
	}
	p, err := f.client().Point(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !p.StopOnErrors || p.RemoteMode || !p.ShopDocuments || !p.CarryBalance || p.OFD != OFDs[0] {
		t.Fatalf("sandbox defaults %+v", p)
	}
	form := url.Values{"name": {"ООО Ромашка"}, "address": {"г. Тула, ул. Ленина, д. 5"}, "inn": {"7707083893"},
		"place": {"https://romashka.example"}, "email": {"chek@romashka.example"}, "tax": {"SIMPLIFIED", "PATENT"},
		"ofd": {OFDs[1].INN}, "shopDocuments": {"on"}, "notifyEmail": {"boss@romashka.example"}, "webhookUrl": {"https://romashka.example/hook"}}
	if code, body := o.post("/cabinet/points/"+f.sb.RetailPointID, form); code != http.StatusOK || !strings.Contains(body, "сохранены") {
		t.Fatalf("save: HTTP %d %.500s", code, body)
	}
	p, err = f.client().Point(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := cloud.Point{ID: f.sb.RetailPointID, Name: "ООО Ромашка", INN: "7707083893", Address: "г. Тула, ул. Ленина, д. 5",
		Place: "https://romashka.example", Email: "chek@romashka.example", TaxSystems: cloud.TaxModes["SIMPLIFIED"] | cloud.TaxModes["PATENT"],
		OFD: OFDs[1], ShopDocuments: true, StopOnErrors: false, RemoteMode: true, CarryBalance: true}
	if p != want {
		t.Fatalf("point after save\n got %+v\nwant %+v", p, want)
	}
	// Refusals name the field and change nothing.
	for field, edit := range map[string]func(url.Values){
		"inn":         func(v url.Values) { v.Set("inn", "7707083894") },
		"tax":         func(v url.Values) { v.Del("tax") },
		"ofd":         func(v url.Values) { v.Set("ofd", "0000000000") },
		"notifyEmail": func(v url.Values) { v.Set("notifyEmail", "not an address") },
		"webhookUrl":  func(v url.Values) { v.Set("webhookUrl", "ftp://x") },
	} {
		bad := url.Values{}
		for k, v := range form {
			bad[k] = v
		}
		edit(bad)
		if code, body := o.post("/cabinet/points/"+f.sb.RetailPointID, bad); code != http.StatusBadRequest || !strings.Contains(body, "("+field+")") {
			t.Errorf("bad %s: HTTP %d, want 400 naming it", field, code)
		}
	}
	if p2, _ := f.client().Point(context.Background()); p2 != want {
		t.Fatalf("a refused form changed the point: %+v", p2)
	}
	// Another account's point (none here) and unknown points are not found.
	if code, _ := o.post("/cabinet/points/no-such-point", form); code != http.StatusNotFound {
		t.Fatalf("unknown point: HTTP %d", code)
	}
}

func TestCabinetCredentials(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost})
	o := f.owner()
	o.mustLogin()
	o.get("/cabinet/points")
	pairRe := regexp.MustCompile(`id="issued-login">([^<]+)</code> Пароль: <code id="issued-password">([^<]+)<`)
	issue := func() (string, string) {
		t.Helper()
		code, body := o.post("/cabinet/points/"+f.sb.RetailPointID+"/credentials", nil)
		m := pairRe.FindStringSubmatch(body)
		if code != http.StatusOK || m == nil {
			t.Fatalf("credentials: HTTP %d, no pair shown", code)
		}
		return m[1], html.UnescapeString(m[2])
	}
	u1, p1 := issue()
	if code, _ := f.call("GET", "/api/fn/v1/status", u1, p1, nil); code != http.StatusOK {
		t.Fatalf("first pair: HTTP %d", code)
	}
	u2, p2 := issue()
	if u2 == u1 || p2 == p1 {
		t.Fatalf("regenerated pair equals the old one")
	}
	if code, _ := f.call("GET", "/api/fn/v1/status", u1, p1, nil); code != http.StatusUnauthorized {
		t.Fatalf("old pair after regenerate: HTTP %d, want 401", code)
	}
	if code, _ := f.call("GET", "/api/fn/v1/status", u2, p2, nil); code != http.StatusOK {
		t.Fatalf("new pair: HTTP %d", code)
	}
	if code, _ := f.shop("GET", "/api/fn/v1/status", nil); code != http.StatusOK {
		t.Fatalf("sandbox pair after regenerate: HTTP %d", code)
	}
	if code, _ := f.call("GET", "/api/fn/v1/status", f.sb.CabinetLogin, f.sb.CabinetPassword, nil); code != http.StatusUnauthorized {
		t.Fatalf("the cabinet's password on the shop API: HTTP %d", code)
	}
}

// health is a running register's heartbeat.
func health(at time.Time) cloud.Health {
	return cloud.Health{At: at, Version: "test", CloudReachable: true, OFDReachable: true,
		Drive:     cloud.DriveHealth{Phase: "fiscal", Number: "9999078900001234", RegNumber: "0000000001012345", ValidUntil: at.AddDate(1, 0, 0), LastFD: 12},
		ShiftOpen: true, ShiftNumber: 1, ShiftOpenedAt: at.Add(-time.Hour), Printer: cloud.PrinterHealth{State: "ready", Paper: "ok"}}
}

// fiscalize plays the register for one posted document: lease it, report it
// fiscalized as FD fd.
func (f *fixture) fiscalize(id string, fd int, sum cloud.Money) {
	f.t.Helper()
	f.fiscalizeAs(id, fd, sum, "SALE")
}

// fiscalizeAs is fiscalize for a receipt of the register's checkType.
func (f *fixture) fiscalizeAs(id string, fd int, sum cloud.Money, checkType string) {
	f.t.Helper()
	ctx := context.Background()
	c := f.client()
	leases, err := c.Lease(ctx, 0, 10)
	if err != nil {
		f.t.Fatal(err)
	}
	found := false
	for _, l := range leases {
		found = found || l.ID == id
	}
	if !found {
		f.t.Fatalf("document %s not leased (got %d leases)", id, len(leases))
	}
	fi := fiscalInfo(fd - 10)
	fi.Sum, fi.CheckType = sum, checkType
	if err := c.Report(ctx, []cloud.Result{{ID: id, Status: cloud.Printed, FiscalInfo: fi}}); err != nil {
		f.t.Fatal(err)
	}
}

func TestOFDDelivery(t *testing.T) {
	f := newFixture(t, Config{})
	ctx := context.Background()
	c := f.client()
	for i, id := range []string{"d1", "d2", "d3"} {
		f.post(withID(id))
		f.fiscalize(id, 11+i, 203500)
	}
	if st := f.status("d1"); st.OFDDelivered || !st.OFDDeliveredAt.IsZero() {
		t.Fatalf("before any acknowledgement: %+v", st)
	}
	h := health(f.clock.Now())
	h.OFDAckedThrough = 12
	f.clock.Advance(time.Minute)
	first := f.clock.Now().UTC()
	if _, err := c.SendHeartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]bool{"d1": true, "d2": true, "d3": false} {
		if st := f.status(id); st.OFDDelivered != want || (want && !st.OFDDeliveredAt.Equal(first)) {
			t.Errorf("%s: delivered %v at %v, want %v at %v", id, st.OFDDelivered, st.OFDDeliveredAt, want, first)
		}
	}
	// The same acknowledgement again keeps the first time; the next one reaches d3.
	f.clock.Advance(time.Minute)
	if _, err := c.SendHeartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	h.OFDAckedThrough = 13
	f.clock.Advance(time.Minute)
	if _, err := c.SendHeartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	if st := f.status("d1"); !st.OFDDeliveredAt.Equal(first) {
		t.Errorf("d1 delivery time moved to %v", st.OFDDeliveredAt)
	}
	if st := f.status("d3"); !st.OFDDeliveredAt.Equal(f.clock.Now().UTC()) {
		t.Errorf("d3 delivered at %v, want %v", st.OFDDeliveredAt, f.clock.Now())
	}
	// Another drive's numbers say nothing of these; a result arriving after its
	// acknowledgement is delivered at once.
	f.post(withID("d4"))
	h.Drive.Number = "9999078900009999"
	h.OFDAckedThrough = 100
	if _, err := c.SendHeartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	h.Drive.Number = "9999078900001234"
	h.OFDAckedThrough = 20
	if _, err := c.SendHeartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	f.fiscalize("d4", 14, 203500)
	if st := f.status("d4"); !st.OFDDelivered {
		t.Errorf("late result of an acknowledged FD: %+v", st)
	}
	f.post(withID("d5"))
	f.fiscalize("d5", 21, 203500)
	if st := f.status("d5"); st.OFDDelivered {
		t.Errorf("FD 21 delivered with acknowledgement through 20")
	}
	// The JSON carries the extension's names.
	_, data := f.shop("GET", "/api/fn/v1/doc/d1/status", nil)
	if !bytes.Contains(data, []byte(`"ofdDelivered":true`)) || !bytes.Contains(data, []byte(`"ofdDeliveredAt":"`)) {
		t.Errorf("status JSON %s", data)
	}
}

func TestCabinetResume(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost})
	ctx := context.Background()
	c := f.client()
	o := f.owner()
	o.mustLogin()
	h := health(f.clock.Now())
	h.Stopped, h.StopReason = true, "4 документа подряд не зарегистрированы"
	if r, err := c.SendHeartbeat(ctx, h); err != nil || r.Resume {
		t.Fatalf("stopped heartbeat: %+v %v", r, err)
	}
	code, body := o.get("/cabinet/registers")
	if code != http.StatusOK || !strings.Contains(body, "status-FAILED") || !strings.Contains(body, h.StopReason) || !strings.Contains(body, `class="resume"`) {
		t.Fatalf("registers page: HTTP %d %.2000s", code, body)
	}
	if code, body := o.post("/cabinet/registers/"+f.sb.RetailPointID+"/resume", nil); code != http.StatusOK || !strings.Contains(body, "следующий сигнал") {
		t.Fatalf("resume: HTTP %d", code)
	}
	if r, err := c.SendHeartbeat(ctx, h); err != nil || !r.Resume {
		t.Fatalf("heartbeat after resume: %+v %v, want resume", r, err)
	}
	// Once only.
	if r, err := c.SendHeartbeat(ctx, h); err != nil || r.Resume {
		t.Fatalf("second heartbeat: %+v %v", r, err)
	}
	h.Stopped = false
	c.SendHeartbeat(ctx, h)
	if _, body := o.get("/cabinet/registers"); !strings.Contains(body, "status-READY") || strings.Contains(body, `class="resume"`) {
		t.Fatalf("registers page after resuming shows no READY")
	}
}

func TestCabinetDocuments(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost})
	ctx := context.Background()
	o := f.owner()
	o.mustLogin()
	f.post(withID("cheap"))
	f.fiscalize("cheap", 11, 203500)
	f.clock.Advance(5 * time.Hour)
	f.post(cloudtest.Doc(func(m map[string]any) {
		m["id"] = "big"
		m["inventPositions"] = []any{map[string]any{"name": "Диван", "price": 50000, "quantity": 1, "vatTag": 1102}}
		m["moneyPositions"] = []any{map[string]any{"paymentType": "CARD", "sum": 50000}}
	}))
	f.fiscalize("big", 12, 5000000)
	f.clock.Advance(time.Minute)
	f.post(withID("waiting"))
	// Acknowledge nothing; both fiscalized ones are undelivered: cheap for 5 h, big for 0.
	h := health(f.clock.Now())
	f.client().SendHeartbeat(ctx, h)
	list := func(query string) string {
		t.Helper()
		code, body := o.get("/cabinet/documents?" + query)
		if code != http.StatusOK {
			t.Fatalf("documents?%s: HTTP %d", query, code)
		}
		var out []string
		for _, m := range regexp.MustCompile(`<tr data-id="([^"]+)"`).FindAllStringSubmatch(body, -1) {
			out = append(out, m[1])
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct{ query, want string }{
		{"", "waiting,big,cheap"},
		{"state=COMPLETED", "big,cheap"},
		{"state=QUEUED", "waiting"},
		{"min=3000", "big"},
		{"min=1000&max=10000", "waiting,cheap"},
		{"max=2035", "waiting,cheap"},
		{"undelivered=4", "cheap"},
		{"undelivered=6", ""},
		{"from=2026-11-23&to=2026-11-23", "waiting,big,cheap"},
		{"from=2026-11-24", ""},
		{"point=" + f.sb.RetailPoints[1].ID, ""},
	} {
		if got := list(c.query); got != c.want {
			t.Errorf("documents?%s: %q, want %q", c.query, got, c.want)
		}
	}
	if code, body := o.get("/cabinet/documents?min=abc"); code != http.StatusBadRequest || !strings.Contains(body, "(min)") {
		t.Errorf("bad min: HTTP %d", code)
	}
	// CSV of a filter: BOM, semicolons, the rows of the filter.
	code, body := o.get("/cabinet/documents.csv?state=COMPLETED")
	if code != http.StatusOK || !strings.HasPrefix(body, "\ufeff") {
		t.Fatalf("CSV: HTTP %d %q", code, body[:min(len(body), 20)])
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff")))
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 3 || recs[0][1] != "ID магазина" || recs[1][1] != "big" || recs[1][5] != "50000,00" || recs[1][6] != "12" ||
		recs[2][1] != "cheap" || recs[2][5] != "2035,00" || recs[2][7] != "1234567890" || recs[2][9] != "" {
		t.Fatalf("CSV rows %q", recs)
	}
	// The document page lays out the receipt; the QR is a PNG.
	code, body = o.get("/cabinet/documents/" + f.sb.RetailPointID + "/cheap")
	for _, want := range []string{"Кассовый чек. Приход", "Чайник", "1990,00", "2035,00", "1234567890", "не доставлен", "qr.png"} {
		if !strings.Contains(body, want) {
			t.Errorf("document page (HTTP %d) lacks %q", code, want)
		}
	}
	req, _ := http.NewRequest("GET", f.http.URL+"/cabinet/documents/"+f.sb.RetailPointID+"/cheap/qr.png", nil)
	resp, err := o.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("QR: HTTP %d", resp.StatusCode)
	}
	if code, _ := o.get("/cabinet/documents/" + f.sb.RetailPoints[1].ID + "/cheap"); code != http.StatusNotFound {
		t.Errorf("another point's id: HTTP %d", code)
	}
}

func TestCabinetResend(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost})
	ctx := context.Background()
	o := f.owner()
	o.mustLogin()
	f.post(withID("bad"))
	c := f.client()
	if _, err := c.Lease(ctx, 0, 1); err != nil {
		t.Fatal(err)
	}
	if err := c.Report(ctx, []cloud.Result{{ID: "bad", Status: cloud.Failed, FailureInfo: &cloud.FailureInfo{Type: cloud.FailureFNGeneric, Message: "drive said no"}}}); err != nil {
		t.Fatal(err)
	}
	path := "/cabinet/documents/" + f.sb.RetailPointID + "/bad"
	// Stop on errors (the default): no "send again".
	if _, body := o.get(path); strings.Contains(body, `id="resend"`) {
		t.Fatal("send again offered outside remote-fiscalization mode")
	}
	if code, _ := o.post(path+"/requeue", nil); code != http.StatusConflict {
		t.Fatalf("requeue outside remote mode: HTTP %d, want 409", code)
	}
	o.get("/cabinet/points")
	form := url.Values{"name": {`ООО "Песочница"`}, "address": {"г. Москва"}, "inn": {"7707083893"}, "place": {"https://shop.example"},
		"tax": {"COMMON"}, "ofd": {OFDs[0].INN}}
	if code, _ := o.post("/cabinet/points/"+f.sb.RetailPointID, form); code != http.StatusOK {
		t.Fatalf("remote mode on: HTTP %d", code)
	}
	if _, body := o.get(path); !strings.Contains(body, `id="resend"`) {
		t.Fatal("no send again in remote mode")
	}
	if code, body := o.post(path+"/requeue", nil); code != http.StatusOK || !strings.Contains(body, "REQUEUED") || !strings.Contains(body, "Чайник") {
		t.Fatalf("requeue: HTTP %d", code)
	}
	if st := f.status("bad"); st.Status != cloud.Requeued {
		t.Fatalf("after send again: %s", st.Status)
	}
}

func TestOFDList(t *testing.T) {
	if OFDs[0].INN != sim.DefaultOFDINN {
		t.Errorf("the emulator's INN %s, the emulator says %s", OFDs[0].INN, sim.DefaultOFDINN)
	}
	seen := map[string]bool{}
	for _, o := range OFDs {
		if !fiscal.ValidINN(o.INN) || seen[o.INN] || o.Name == "" || !strings.HasPrefix(o.Site, "http") {
			t.Errorf("OFD %+v", o)
		}
		seen[o.INN] = true
	}
}

// hookReceiver records the webhook's alerts.
type hookReceiver struct {
	mu     sync.Mutex
	alerts []Alert
	refuse int // the next calls answered 503 and not kept
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var a Alert
	if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	h.mu.Lock()
	if h.refuse > 0 {
		h.refuse--
		h.mu.Unlock()
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	h.alerts = append(h.alerts, a)
	h.mu.Unlock()
}

func (h *hookReceiver) got() []Alert {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Alert(nil), h.alerts...)
}

// alertRig is a cloud with a real SMTP sink and a webhook receiver on loopback.
func alertRig(t *testing.T, cfg Config) (*fixture, *kmail.Sink, *hookReceiver) {
	t.Helper()
	sink, err := kmail.NewSink(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sink.Serve(ln)
	t.Cleanup(func() { sink.Close() })
	sender, err := kmail.NewSender(kmail.Config{Addr: ln.Addr().String(), From: "kassa@cloud.example", TLS: kmail.TLSOff}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hook := &hookReceiver{}
	hs := httptest.NewServer(hook)
	t.Cleanup(hs.Close)
	cfg.Mailer, cfg.AlertRetryInitial, cfg.PasswordCost = sender, 10*time.Millisecond, bcrypt.MinCost
	if cfg.AlertEvery == 0 {
		cfg.AlertEvery = time.Hour
	}
	f := newFixture(t, cfg)
	o := f.owner()
	o.mustLogin()
	o.get("/cabinet/points")
	form := url.Values{"name": {`ООО "Песочница"`}, "address": {"г. Москва, ул. Тверская, д. 1"}, "inn": {"7707083893"},
		"place": {"https://shop.example"}, "tax": {"COMMON"}, "ofd": {OFDs[0].INN}, "shopDocuments": {"on"}, "stopOnErrors": {"on"},
		"notifyEmail": {"owner@shop.example"}, "webhookUrl": {hs.URL + "/alerts"}}
	if code, body := o.post("/cabinet/points/"+f.sb.RetailPointID, form); code != http.StatusOK {
		t.Fatalf("settings: HTTP %d %.300s", code, body)
	}
	return f, sink, hook
}

func emls(t *testing.T, dir string) []*mail.Message {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	var out []*mail.Message
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m, err := mail.ReadMessage(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		out = append(out, m)
	}
	return out
}

func subject(t *testing.T, m *mail.Message) string {
	t.Helper()
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAlertStopped(t *testing.T) {
	f, sink, hook := alertRig(t, Config{})
	ctx := context.Background()
	c := f.client()
	h := health(f.clock.Now())
	h.Stopped, h.StopReason = true, "ошибка накопителя"
	for range 3 {
		if _, err := c.SendHeartbeat(ctx, h); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(15 * time.Second)
	}
	cloudtest.WaitFor(t, func() bool { return len(emls(t, sink.Dir())) >= 1 && len(hook.got()) >= 1 })
	time.Sleep(100 * time.Millisecond) // a second alert, were there one, would be on its way
	msgs, hooks := emls(t, sink.Dir()), hook.got()
	if len(msgs) != 1 || len(hooks) != 1 {
		t.Fatalf("%d e-mails and %d webhook calls for one stop, want 1 and 1", len(msgs), len(hooks))
	}
	subj := subject(t, msgs[0])
	if to := msgs[0].Header.Get("To"); !strings.Contains(to, "owner@shop.example") ||
		!strings.Contains(subj, `ООО "Песочница"`) || !strings.Contains(subj, "ошибка накопителя") {
		t.Fatalf("e-mail To %q Subject %q", to, subj)
	}
	if a := hooks[0]; a.Kind != AlertStopped || !a.Open || a.PointID != f.sb.RetailPointID || a.Message != "ошибка накопителя" {
		t.Fatalf("webhook %+v", a)
	}
	// Running again: one all-clear on each channel, however many heartbeats.
	h.Stopped, h.StopReason = false, ""
	for range 3 {
		c.SendHeartbeat(ctx, h)
	}
	cloudtest.WaitFor(t, func() bool { return len(emls(t, sink.Dir())) >= 2 && len(hook.got()) >= 2 })
	time.Sleep(100 * time.Millisecond)
	msgs, hooks = emls(t, sink.Dir()), hook.got()
	if len(msgs) != 2 || len(hooks) != 2 || hooks[1].Open || hooks[1].Kind != AlertStopped || !strings.Contains(subject(t, msgs[1]), "в порядке") {
		t.Fatalf("all-clear: %d e-mails, hooks %+v", len(msgs), hooks)
	}
	// The alert log shows the four messages as delivered.
	o := f.owner()
	o.mustLogin()
	cloudtest.WaitFor(t, func() bool {
		_, body := o.get("/cabinet/alerts")
		return strings.Count(body, `class="ok">доставлено<`) == 4
	})
}

// TestAlertBeforeItsAllClear: an alert whose delivery is retried still reaches
// the owner before the all-clear raised after it.
func TestAlertBeforeItsAllClear(t *testing.T) {
	f, _, hook := alertRig(t, Config{})
	hook.mu.Lock()
	hook.refuse = 3
	hook.mu.Unlock()
	ctx := context.Background()
	c := f.client()
	h := health(f.clock.Now())
	h.Stopped, h.StopReason = true, "ошибка накопителя"
	for range 3 {
		if _, err := c.SendHeartbeat(ctx, h); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(15 * time.Second)
	}
	h.Stopped, h.StopReason = false, ""
	if _, err := c.SendHeartbeat(ctx, h); err != nil {
		t.Fatal(err)
	}
	cloudtest.WaitFor(t, func() bool { return len(hook.got()) >= 2 })
	if got := hook.got(); !got[0].Open || got[1].Open || got[0].Kind != AlertStopped || got[1].Kind != AlertStopped {
		t.Fatalf("webhook calls %+v, want the stop's alert, then its all-clear", got)
	}
}

func TestAlertThresholds(t *testing.T) {
	f, sink, hook := alertRig(t, Config{AlertEvery: 20 * time.Millisecond, AlertSilence: 10 * time.Minute,
		AlertCallbackAttempts: 2, CallbackInitial: 5 * time.Millisecond, CallbackMax: 10 * time.Millisecond})
	ctx := context.Background()
	c := f.client()
	start := f.clock.Now()
	h := health(start)
	h.ShiftOpenedAt = start.Add(-22 * time.Hour)
	h.WaitingForOFD, h.OldestUnsentAt = 2, start.Add(-71*time.Hour)
	c.SendHeartbeat(ctx, h)
	time.Sleep(100 * time.Millisecond)
	if n := len(hook.got()); n != 0 {
		t.Fatalf("%d alerts below every threshold: %+v", n, hook.got())
	}
	kinds := func() map[string]int {
		out := map[string]int{}
		for _, a := range hook.got() {
			if a.Open {
				out[a.Kind]++
			} else {
				out["-"+a.Kind]++
			}
		}
		return out
	}
	// Two hours later: shift at 24 h - 0, oldest unsent at 73 h, silent 2 h.
	f.clock.Advance(2 * time.Hour)
	cloudtest.WaitFor(t, func() bool {
		k := kinds()
		return k[AlertShift] == 1 && k[AlertUndelivered] == 1 && k[AlertSilent] == 1
	})
	// A heartbeat with the shift closed and the queue empty clears all three.
	h = health(f.clock.Now())
	h.ShiftOpen = false
	c.SendHeartbeat(ctx, h)
	cloudtest.WaitFor(t, func() bool {
		k := kinds()
		return k["-"+AlertShift] == 1 && k["-"+AlertUndelivered] == 1 && k["-"+AlertSilent] == 1
	})
	// A callback refused twice raises an alert for its document.
	refuse := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "no", 500) }))
	defer refuse.Close()
	f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = "cb"; m["responseURL"] = refuse.URL }))
	f.fiscalize("cb", 11, 203500)
	cloudtest.WaitFor(t, func() bool { return kinds()[AlertCallback] == 1 })
	time.Sleep(100 * time.Millisecond)
	if k := kinds(); k[AlertCallback] != 1 {
		t.Fatalf("callback alerts %d, want one per incident", k[AlertCallback])
	}
	for _, a := range hook.got() {
		if a.Kind == AlertCallback && a.DocumentID != "cb" {
			t.Fatalf("callback alert %+v", a)
		}
	}
	cloudtest.WaitFor(t, func() bool { return len(emls(t, sink.Dir())) == len(hook.got()) })
}

// A callback accepted after refusals enough for an alert closes its alert, with
// no heartbeat or timed evaluation to do it; one accepted at once raises none.
func TestAlertCallbackCleared(t *testing.T) {
	var hits atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("refuse") != "" && hits.Add(1) <= 2 {
			http.Error(w, "busy", http.StatusServiceUnavailable)
		}
	}))
	defer receiver.Close()
	f, _, hook := alertRig(t, Config{AlertCallbackAttempts: 2, CallbackInitial: 5 * time.Millisecond, CallbackMax: 10 * time.Millisecond})
	f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = "once"; m["responseURL"] = receiver.URL }))
	f.fiscalize("once", 11, 203500)
	f.post(cloudtest.Doc(func(m map[string]any) { m["id"] = "cb"; m["responseURL"] = receiver.URL + "?refuse=1" }))
	f.fiscalize("cb", 12, 203500)
	cloudtest.WaitFor(t, func() bool {
		return f.status("cb").Status == cloud.Completed && f.status("once").Status == cloud.Completed
	})
	cloudtest.WaitFor(t, func() bool { return len(hook.got()) == 2 })
	got := hook.got()
	if got[0].Kind != AlertCallback || !got[0].Open || got[0].DocumentID != "cb" || got[1].Kind != AlertCallback || got[1].Open || got[1].DocumentID != "cb" {
		t.Fatalf("alerts %+v, want the callback of cb opened and closed", got)
	}
}

// Every page of the cabinet parses with the layout (on first use, not at init).
func TestCabinetTemplatesParse(t *testing.T) {
	var names []string
	for name := range pages() {
		names = append(names, name)
	}
	slices.Sort(names)
	if got := strings.Join(names, " "); got != "alerts close document documents login points registers totals" {
		t.Fatalf("pages %q", got)
	}
}

// TestCabinetStatic: the static folder is served, and nothing outside it.
func TestCabinetStatic(t *testing.T) {
	f := newFixture(t, Config{})
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", f.http.URL+path, nil)
		resp, err := http.DefaultTransport.RoundTrip(req) // no redirects followed
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/cabinet/static/style.css"); code != http.StatusOK || !strings.Contains(body, "{") {
		t.Fatalf("style.css: HTTP %d", code)
	}
	for _, p := range []string{
		"/cabinet/static/%2e%2e/templates/layout.html", "/cabinet/static/../templates/layout.html",
		"/cabinet/static/%2e%2e%2ftemplates%2flayout.html", "/cabinet/static/..%2ftemplates/layout.html",
		"/cabinet/static/templates/layout.html", "/cabinet/templates/layout.html", "/cabinet/static/%2e%2e/",
	} {
		code, body := get(p)
		if strings.Contains(body, "{{") || code == http.StatusOK {
			t.Errorf("%s: HTTP %d %.80q", p, code, body)
		}
	}
}

// TestCabinetCSVInjection: cells a spreadsheet would read as formulas reach
// the export as text.
func TestCabinetCSVInjection(t *testing.T) {
	for in, want := range map[string]string{
		"=1+2": "'=1+2", "+cmd|'calc'!A0": "'+cmd|'calc'!A0", "-2+3": "'-2+3", "@SUM(A1)": "'@SUM(A1)",
		"\t=1": "'\t=1", "\r=1": "'\r=1", "ok-1": "ok-1", "": "", "1=1": "1=1",
	} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q) = %q, want %q", in, got, want)
		}
	}
	f := newFixture(t, Config{})
	for _, id := range []string{"=1+2", "+cmd|'calc'!A0", "@SUM(1+1)*cmd|'C.calc'!A0"} {
		f.post(withID(id))
	}
	o := f.owner()
	o.mustLogin()
	code, body := o.get("/cabinet/documents.csv")
	if code != http.StatusOK {
		t.Fatalf("CSV: HTTP %d", code)
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff")))
	r.Comma = ';'
	recs, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs[1:] {
		for _, cell := range rec {
			if cell != "" && strings.ContainsRune("=+-@\t\r", rune(cell[0])) {
				t.Errorf("a cell starts a formula: %q", cell)
			}
		}
	}
	if len(recs) != 4 {
		t.Fatalf("CSV rows %q", recs)
	}
}

// TestCabinetCommands: an X report and a shift close asked in the cabinet go
// to the register once, in a heartbeat's answer; the shift close is confirmed
// first; the register's outcome comes back in a heartbeat and is shown.
func TestCabinetCommands(t *testing.T) {
	f := newFixture(t, Config{PasswordCost: bcrypt.MinCost})
	ctx := context.Background()
	c := f.client()
	o := f.owner()
	o.mustLogin()
	h := health(f.clock.Now())
	if r, err := c.SendHeartbeat(ctx, h); err != nil || r.Command != nil {
		t.Fatalf("first heartbeat: %+v %v", r, err)
	}
	reg := "/cabinet/registers/" + f.sb.RetailPointID
	if _, body := o.get("/cabinet/registers"); !strings.Contains(body, `class="x-report"`) || !strings.Contains(body, `class="close-shift"`) {
		t.Fatal("registers page offers no X report or shift close")
	}
	if code, body := o.post(reg+"/x-report", nil); code != http.StatusOK || !strings.Contains(body, "X-отчёт") || !strings.Contains(body, "ждёт сигнала кассы") {
		t.Fatalf("X report: HTTP %d %.3000s", code, body)
	}
	r, err := c.SendHeartbeat(ctx, h)
	if err != nil || r.Command == nil || r.Command.Kind != cloud.CommandXReport || r.Command.ID == "" {
		t.Fatalf("heartbeat after the X report's request: %+v %v", r, err)
	}
	x := *r.Command
	// Once only; the page says it went.
	if r, err := c.SendHeartbeat(ctx, h); err != nil || r.Command != nil {
		t.Fatalf("second heartbeat: %+v %v", r, err)
	}
	if _, body := o.get("/cabinet/registers"); !strings.Contains(body, "отправлено кассе") {
		t.Fatal("registers page does not say the command went")
	}
	// The register's outcome, with the shift's totals.
	f.clock.Advance(time.Minute)
	h.Command = &cloud.CommandOutcome{ID: x.ID, Kind: x.Kind, At: f.clock.Now(), Totals: &cloud.ShiftTotals{Shift: 1, Open: true,
		Income: cloud.OpTotals{Count: 2, Sum: 407000, Cash: 9000, Electronic: 398000}, IncomeReturn: cloud.OpTotals{Count: 1, Sum: 4500, Cash: 4500},
		CashBalance: 4500}}
	if r, err := c.SendHeartbeat(ctx, h); err != nil || r.Command != nil {
		t.Fatalf("heartbeat with the outcome: %+v %v", r, err)
	}
	_, body := o.get("/cabinet/registers")
	for _, want := range []string{"выполнено", "23.11.2026 13:01", "смена № 1 открыта", "приход", "4070,00", "возврат прихода", "45,00"} {
		if !strings.Contains(body, want) {
			t.Errorf("registers page after the X report lacks %q", want)
		}
	}
	if pc, found, err := f.srv.LastCommand(f.sb.RetailPointID); err != nil || !found || pc.Outcome == nil || pc.Outcome.Totals.Income.Count != 2 {
		t.Fatalf("last command %+v %v %v", pc, found, err)
	}

	// A shift close asks first, and nothing goes to the register until confirmed.
	code, body := o.post(reg+"/close-shift", nil)
	if code != http.StatusOK || !strings.Contains(body, "необратимо") || !strings.Contains(body, `id="confirm-yes"`) {
		t.Fatalf("shift close without confirmation: HTTP %d %.3000s", code, body)
	}
	if r, err := c.SendHeartbeat(ctx, h); err != nil || r.Command != nil {
		t.Fatalf("heartbeat before the confirmation: %+v %v", r, err)
	}
	if code, body := o.post(reg+"/close-shift", url.Values{"confirm": {"yes"}}); code != http.StatusOK || !strings.Contains(body, "Закрытие смены") {
		t.Fatalf("shift close: HTTP %d", code)
	}
	r, err = c.SendHeartbeat(ctx, h)
	if err != nil || r.Command == nil || r.Command.Kind != cloud.CommandCloseShift || r.Command.ID == x.ID {
		t.Fatalf("heartbeat after the shift close: %+v %v", r, err)
	}
	// The register could not: the page says why.
	h.Command = &cloud.CommandOutcome{ID: r.Command.ID, Kind: r.Command.Kind, At: f.clock.Now(), Error: "накопитель не отвечает"}
	c.SendHeartbeat(ctx, h)
	if _, body := o.get("/cabinet/registers"); !strings.Contains(body, "не выполнено") || !strings.Contains(body, "накопитель не отвечает") {
		t.Fatal("registers page does not show the failed shift close")
	}

	// Without CSRF, for a point without a register, for a point of nobody's.
	if code, _ := o.post(reg+"/x-report", url.Values{"csrf": {"wrong"}}); code != http.StatusForbidden {
		t.Errorf("X report without CSRF: HTTP %d", code)
	}
	if code, body := o.post("/cabinet/registers/"+f.sb.RetailPoints[1].ID+"/x-report", nil); code != http.StatusOK || !strings.Contains(body, "некому") {
		t.Errorf("X report of a point without a register: HTTP %d", code)
	}
	if code, _ := o.post("/cabinet/registers/no-such-point/close-shift", url.Values{"confirm": {"yes"}}); code != http.StatusNotFound {
		t.Errorf("shift close of another's point: HTTP %d", code)
	}
}

// TestCallbackWords: the documents list says where the shop's callback
// stands, never a bare count.
func TestCallbackWords(t *testing.T) {
	url := "https://shop.example/cb"
	for _, c := range []struct {
		name string
		rec  storage.Document
		due  bool
		want string
	}{
		{"none asked", storage.Document{State: cloud.Completed}, false, "не запрошено"},
		{"before fiscalization", storage.Document{State: cloud.Queued, ResponseURL: url}, false, "после фискализации"},
		{"due", storage.Document{State: cloud.Printed, ResponseURL: url}, true, "отправляется"},
		{"refused", storage.Document{State: cloud.WaitForCallback, ResponseURL: url, CallbackAttempts: 3, CallbackError: "HTTP 500"}, true, "магазин не принял, попыток: 3"},
		{"accepted", storage.Document{State: cloud.Completed, ResponseURL: url, CallbackAttempts: 1}, false, "принято магазином"},
		{"abandoned", storage.Document{State: cloud.WaitForCallback, ResponseURL: url, CallbackAttempts: 6, CallbackError: "HTTP 500"}, false, "магазин не принял, попыток: 6; попытки прекращены"},
	} {
		c.rec.CallbackDue = c.due
		if got := callbackState(&c.rec).Text; got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	for kind, want := range map[string]string{"SALE": "2035,00", "RETURN": "−2035,00", "PURCHASE": "−2035,00", "RETURN_PURCHASE": "2035,00", "SALE_CORRECTION": "2035,00"} {
		if got := rubles(docRow{Kind: kind, Total: 203500}.Signed()); got != want {
			t.Errorf("%s: %s, want %s", kind, got, want)
		}
	}
}
