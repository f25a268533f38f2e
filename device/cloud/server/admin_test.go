package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"

	"github.com/openkassa/kassa/device/cloud"
)

const adminToken = "an-admin-token-of-at-least-32-characters"

// adminCall makes one request of the admin API with token and decodes the answer into out.
func (f *fixture) adminCall(token, method, path string, in, out any) int {
	f.t.Helper()
	var body []byte
	if in != nil {
		body, _ = json.Marshal(in)
	}
	req, err := http.NewRequest(method, f.http.URL+"/api/admin/v1"+path, bytes.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func romashka(account string) map[string]any {
	return map[string]any{"account": account, "name": `ООО "Ромашка"`, "inn": "7707083893",
		"address": "г. Москва, ул. Тверская, д. 1", "place": "https://romashka.example",
		"email": "chek@romashka.example", "taxSystems": []string{"SIMPLIFIED", "PATENT"}}
}

// The admin API is off without a token and refuses a wrong one.
func TestAdminAuth(t *testing.T) {
	off := newFixture(t, Config{})
	if code := off.adminCall(adminToken, "GET", "/accounts/x", nil, nil); code != http.StatusNotFound {
		t.Fatalf("without AdminToken: HTTP %d, want 404", code)
	}
	f := newFixture(t, Config{AdminToken: adminToken})
	for _, token := range []string{"", "wrong", adminToken + "x"} {
		if code := f.adminCall(token, "POST", "/accounts", map[string]string{"login": "romashka", "password": "long enough"}, nil); code != http.StatusUnauthorized {
			t.Errorf("token %q: HTTP %d, want 401", token, code)
		}
	}
	if _, err := f.srv.store.Account(context.Background(), "romashka"); err == nil {
		t.Fatal("an account was created with a wrong token")
	}
}

// An operator provisions an account, a point, its shop pair and its
// register; each works where it is meant to, and bad input names its field.
func TestAdminProvisioning(t *testing.T) {
	f := newFixture(t, Config{AdminToken: adminToken})
	var e cloud.APIError
	for _, c := range []struct {
		in    map[string]string
		field string
	}{
		{map[string]string{"login": "ro", "password": "long enough"}, "login"},
		{map[string]string{"login": "ромашка", "password": "long enough"}, "login"},
		{map[string]string{"login": "romashka", "password": "short"}, "password"},
	} {
		if code := f.adminCall(adminToken, "POST", "/accounts", c.in, &e); code != http.StatusBadRequest || e.Field != c.field {
			t.Errorf("%v: HTTP %d, field %q; want 400 %q", c.in, code, e.Field, c.field)
		}
	}
	if code := f.adminCall(adminToken, "POST", "/accounts", map[string]string{"login": "romashka", "password": "long enough"}, nil); code != http.StatusCreated {
		t.Fatalf("account: HTTP %d", code)
	}
	if code := f.adminCall(adminToken, "POST", "/accounts", map[string]string{"login": "romashka", "password": "another one"}, nil); code != http.StatusConflict {
		t.Fatalf("the same account again: HTTP %d, want 409", code)
	}

	bad := romashka("romashka")
	bad["inn"] = "7707083894"
	if code := f.adminCall(adminToken, "POST", "/points", bad, &e); code != http.StatusBadRequest || e.Field != "inn" {
		t.Fatalf("a wrong INN: HTTP %d, field %q", code, e.Field)
	}
	bad = romashka("romashka")
	bad["taxSystems"] = []string{"SIMPLIFIED", "FLAT"}
	if code := f.adminCall(adminToken, "POST", "/points", bad, &e); code != http.StatusBadRequest || e.Field != "taxSystems[1]" {
		t.Fatalf("an unknown tax system: HTTP %d, field %q", code, e.Field)
	}
	if code := f.adminCall(adminToken, "POST", "/points", romashka("nobody"), &e); code != http.StatusNotFound || e.Field != "account" {
		t.Fatalf("no such account: HTTP %d, field %q", code, e.Field)
	}
	var p cloud.Point
	if code := f.adminCall(adminToken, "POST", "/points", romashka("romashka"), &p); code != http.StatusCreated || p.ID == "" {
		t.Fatalf("point: HTTP %d, %+v", code, p)
	}
	var acc adminAccountView
	if f.adminCall(adminToken, "GET", "/accounts/romashka", nil, &acc); !slices.Equal(acc.Points, []string{p.ID}) {
		t.Fatalf("the account's points: %v, want [%s]", acc.Points, p.ID)
	}

	// The shop's pair posts to the point.
	var pair struct{ Login, Password string }
	if code := f.adminCall(adminToken, "POST", "/points/"+p.ID+"/shop-logins", map[string]any{}, &pair); code != http.StatusCreated || pair.Password == "" {
		t.Fatalf("shop login: HTTP %d", code)
	}
	if code, body := f.call("GET", "/api/fn/v1/status", pair.Login, pair.Password, nil); code != http.StatusOK {
		t.Fatalf("the issued pair on the shop API: HTTP %d %s", code, body)
	}

	// The register's token reads the point; a new token ends the old one.
	var reg struct{ Token string }
	if code := f.adminCall(adminToken, "POST", "/points/"+p.ID+"/register", map[string]any{}, &reg); code != http.StatusCreated || reg.Token == "" {
		t.Fatalf("register: HTTP %d", code)
	}
	got, err := cloud.NewClient(f.http.URL, reg.Token, nil).Point(context.Background())
	if err != nil || got.ID != p.ID || got.INN != "7707083893" || got.TaxSystems == 0 {
		t.Fatalf("the register's point: %+v, %v", got, err)
	}
	var view adminPointView
	if code := f.adminCall(adminToken, "GET", "/points/"+p.ID, nil, &view); code != http.StatusOK || view.Register == nil || view.Account != "romashka" {
		t.Fatalf("point view: HTTP %d, %+v", code, view)
	}
	var reg2 struct{ Token string }
	f.adminCall(adminToken, "POST", "/points/"+p.ID+"/register", map[string]any{}, &reg2)
	if _, err = cloud.NewClient(f.http.URL, reg.Token, nil).Point(context.Background()); !errors.Is(err, cloud.ErrUnauthorized) {
		t.Fatalf("the replaced token: %v, want it refused", err)
	}
	if code := f.adminCall(adminToken, "POST", "/points/no-such-point/register", map[string]any{}, nil); code != http.StatusNotFound {
		t.Fatalf("register of no point: HTTP %d", code)
	}
}

// Points created at once for one account all land in it.
func TestAdminConcurrentPoints(t *testing.T) {
	f := newFixture(t, Config{AdminToken: adminToken})
	f.adminCall(adminToken, "POST", "/accounts", map[string]string{"login": "fleet", "password": "long enough"}, nil)
	const n = 16
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := romashka("fleet")
			in["name"] = fmt.Sprintf("Точка %d", i)
			var p cloud.Point
			if code := f.adminCall(adminToken, "POST", "/points", in, &p); code != http.StatusCreated {
				t.Errorf("point %d: HTTP %d", i, code)
			}
			ids[i] = p.ID
		}()
	}
	wg.Wait()
	var acc adminAccountView
	f.adminCall(adminToken, "GET", "/accounts/fleet", nil, &acc)
	slices.Sort(ids)
	slices.Sort(acc.Points)
	if !slices.Equal(acc.Points, ids) {
		t.Fatalf("the account holds %d points, want the %d created", len(acc.Points), n)
	}
}
