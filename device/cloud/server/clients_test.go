package server

// Each test here restates, over real HTTP against the real server, the
// requests one public ModulKassa client sends and the answers it reads: paths,
// auth, headers, field types, and how it reads errors and statuses. The comment
// on each names the repository and files it restates. A change that fails one
// of them breaks a shop that runs that client.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
)

// request is one HTTP request as a client writes it.
type request struct {
	method, path string
	user, pass   string            // HTTP Basic, when user is set
	header       map[string]string // as the client sets them
	body         string
}

// answer is what the client gets back.
type answer struct {
	code   int
	header http.Header
	body   []byte
}

// send makes the request as it is, with no header the client does not set.
func (f *fixture) send(rq request) answer {
	f.t.Helper()
	var body io.Reader
	if rq.body != "" {
		body = strings.NewReader(rq.body)
	}
	req, err := http.NewRequest(rq.method, f.http.URL+rq.path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if rq.user != "" {
		// Written by hand, as PHP clients do: base64 of login:password.
		req.Header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(rq.user+":"+rq.pass)))
	}
	for k, v := range rq.header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return answer{code: resp.StatusCode, header: resp.Header, body: data}
}

// object decodes an answer's JSON object, as PHP's json_decode($body, true) does.
func (a answer) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(a.body, &m); err != nil {
		t.Fatalf("HTTP %d, body %q is not a JSON object: %v", a.code, a.body, err)
	}
	return m
}

// str is a string member of a decoded object, failing when it is absent or not a string.
func str(t *testing.T, m map[string]any, key string) string {
	t.Helper()
	s, ok := m[key].(string)
	if !ok {
		t.Fatalf("%q is %T %v in %v, want a string", key, m[key], m[key], m)
	}
	return s
}

// associate is POST …/v1/associate/{point} with the cabinet account, as every
// client makes it: no body, the pair in the answer.
func (f *fixture) associate(prefix string, header map[string]string, point string) (user, pass string, m map[string]any) {
	f.t.Helper()
	a := f.send(request{method: "POST", path: prefix + "/v1/associate/" + point,
		user: f.sb.CabinetLogin, pass: f.sb.CabinetPassword, header: header})
	if a.code != http.StatusOK {
		f.t.Fatalf("associate: HTTP %d %s", a.code, a.body)
	}
	m = a.object(f.t)
	return str(f.t, m, "userName"), str(f.t, m, "password"), m
}

// jsonError checks an error answer as the clients that read one read it.
func jsonError(t *testing.T, a answer, code int, field string) map[string]any {
	t.Helper()
	if a.code != code {
		t.Fatalf("HTTP %d %s, want %d", a.code, a.body, code)
	}
	if ct := a.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want exactly application/json", ct)
	}
	m := a.object(t)
	if str(t, m, "message") == "" {
		t.Errorf("empty message in %s", a.body)
	}
	if field != "" && m["field"] != field {
		t.Errorf("field %v, want %s", m["field"], field)
	}
	return m
}

// lease takes the point's documents as its register does and builds each one's
// receipt with the register's own code, for the fiscal data a client's body makes.
func (f *fixture) lease() map[string]*fiscal.Receipt {
	f.t.Helper()
	ctx := context.Background()
	c := f.client()
	p, err := c.Point(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	leases, err := c.Lease(ctx, 0, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]*fiscal.Receipt{}
	for _, l := range leases {
		var d cloud.Document
		if err := json.Unmarshal(l.Document, &d); err != nil {
			f.t.Fatalf("leased %s: %v", l.Document, err)
		}
		r, err := d.ReceiptAt(p, f.clock.Now())
		if err != nil {
			f.t.Fatalf("receipt of %s: %v", l.ID, err)
		}
		out[l.ID] = r
	}
	return out
}

// quantityText is q as the shop API writes it.
func quantityText(q fiscal.Quantity) string {
	b, err := cloud.Quantity(q).MarshalJSON()
	if err != nil {
		panic(err)
	}
	return string(b)
}

// itemSums are the receipt's items as "quantity × price = sum" in kopecks.
func itemSums(r *fiscal.Receipt) string {
	var parts []string
	for _, it := range r.Items {
		parts = append(parts, fmt.Sprintf("%s × %d = %d", quantityText(it.Quantity), it.Price, it.Sum))
	}
	return strings.Join(parts, ", ")
}

// dgigel/dnmodulkassa, classes/DnModulKassaClient.php (PrestaShop): base
// …/api/fn; Basic auth written by hand; every request carries
// "Content-Type: application/json; charset=utf-8"; the body is json_encode with
// JSON_UNESCAPED_UNICODE, floats as PHP writes them (100.0), quantity and
// vatTag as integers. It spreads the order's discount over the positions by
// percentage rounded to kopecks, and adds delivery as a position. Any code
// >= 400 is a failure whose body it does not read; it reads userName,
// password, name, address from associate, status and dateTime from status,
// and status, fnState, fiscalInfo from a document's status.
func TestClientDnModulKassa(t *testing.T) {
	f := newFixture(t, Config{})
	hdr := map[string]string{"Content-Type": "application/json; charset=utf-8"}
	user, pass, m := f.associate("/api/fn", hdr, f.sb.RetailPointID)
	if str(t, m, "name") != `ООО "Песочница"` || str(t, m, "address") != "г. Москва, ул. Тверская, д. 1" {
		t.Errorf("associate: %v", m)
	}

	a := f.send(request{method: "GET", path: "/api/fn/v1/status", user: user, pass: pass, header: hdr})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "ASSOCIATED" || str(t, a.object(t), "dateTime") == "" {
		t.Fatalf("status: HTTP %d %s", a.code, a.body)
	}

	// Order 1045: 3 × 100.00 and 1 × 45.50 with a 10.01 discount (2.8972 %,
	// 8.69 and 1.32), delivery 250.00; paid 585.49.
	body := `{"id":"1045-6568f0c2a1b3c","checkoutDateTime":"2026-11-23T13:00:00+03:00","docNum":"1045",` +
		`"docType":"SALE","printReceipt":false,"email":"buyer@example.com",` +
		`"moneyPositions":[{"paymentType":"CARD","sum":585.49}],` +
		`"responseURL":"https://shop.example/module/dnmodulkassa/response?doc_id=1045-6568f0c2a1b3c&token=0cc175b9c0f1b6a831c399e269772661",` +
		`"inventPositions":[{"name":"Кофе Lavazza Qualità Rossa","price":100.0,"quantity":3,"vatTag":1105,"discSum":8.69},` +
		`{"name":"Сливки","price":45.5,"quantity":1,"vatTag":1105,"discSum":1.32},` +
		`{"name":"ДОСТАВКА","price":250.0,"quantity":1,"vatTag":1105,"discSum":0.0}]}`
	a = f.send(request{method: "POST", path: "/api/fn/v1/doc", user: user, pass: pass, header: hdr, body: body})
	if a.code >= 400 {
		t.Fatalf("doc: HTTP %d %s", a.code, a.body)
	}
	st := a.object(t)
	if str(t, st, "status") != "QUEUED" {
		t.Errorf("doc: %s", a.body)
	}
	if want := `Document queued for printing; inventPositions[0].name: written as "Кофе Lavazza Qualita Rossa"; ` +
		"inventPositions[0]: 3 × 100.00 − 8.69 = 291.31 has no unit price in whole kopecks, written as 2 × 97.10 + 1 × 97.11"; st["message"] != want {
		t.Errorf("message %q, want %q", st["message"], want)
	}
	r := f.lease()["1045-6568f0c2a1b3c"]
	// The cloud keeps the shop's name; the fiscal document holds its CP866 form.
	if r.Items[0].Name != "Кофе Lavazza Qualità Rossa" {
		t.Errorf("kept name %q", r.Items[0].Name)
	}
	tlv, err := r.AppendTLV(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cp := "Lavazza Qualita Rossa"; !strings.Contains(string(tlv), cp) || strings.Contains(string(tlv), "Qualità") {
		t.Errorf("the fiscal document does not hold %q", cp)
	}
	if got, want := itemSums(r), "2 × 9710 = 19420, 1 × 9711 = 9711, 1 × 4418 = 4418, 1 × 25000 = 25000"; got != want {
		t.Errorf("items %s, want %s", got, want)
	}
	if r.Payments.Electronic != 58549 {
		t.Errorf("card %d, want 58549", r.Payments.Electronic)
	}

	a = f.send(request{method: "GET", path: "/api/fn/v1/doc/1045-6568f0c2a1b3c/status", user: user, pass: pass, header: hdr})
	st = a.object(t)
	if a.code != http.StatusOK || str(t, st, "status") != "PENDING" || str(t, st, "fnState") == "" {
		t.Errorf("doc status: HTTP %d %s", a.code, a.body)
	}
	if _, ok := st["fiscalInfo"]; !ok {
		t.Errorf("doc status without fiscalInfo: %s", a.body)
	}

	// A sum that does not add up is still refused, with a code >= 400.
	bad := strings.Replace(body, `"sum":585.49`, `"sum":585.50`, 1)
	bad = strings.Replace(bad, "1045-6568f0c2a1b3c", "1045-6568f0c2a1b3d", -1)
	jsonError(t, f.send(request{method: "POST", path: "/api/fn/v1/doc", user: user, pass: pass, header: hdr, body: bad}),
		http.StatusBadRequest, "moneyPositions")
}

// baryshev1983/bricks_business_modulkassa, src/GuzzleGateway.php with
// src/Document/{Document,InventPosition,MoneyPosition,DocumentStatus}.php and
// src/Auth/Status.php, src/Exception/RequestException.php: base …/api/fn,
// Guzzle's auth option; the body is written with sprintf (prices "%01.2f",
// quantities "%01.3f", spaces after the colons, "responseUrl" and "TaxMode"
// spelled so). status must be READY, ASSOCIATED or FAILED and dateTime a date
// PHP reads; a document's status one of QUEUED, PENDING, PRINTED, COMPLETED,
// FAILED. An error whose Content-Type is exactly application/json is decoded
// for error, status, message, path and timestamp.
func TestClientBricksBusinessModulKassa(t *testing.T) {
	f := newFixture(t, Config{})
	user, pass, _ := f.associate("/api/fn", nil, f.sb.RetailPointID)

	a := f.send(request{method: "GET", path: "/api/fn/v1/status", user: user, pass: pass})
	st := a.object(t)
	if s := str(t, st, "status"); a.code != http.StatusOK || (s != "READY" && s != "ASSOCIATED" && s != "FAILED") {
		t.Fatalf("status: HTTP %d %s", a.code, a.body)
	}
	if _, err := time.Parse(time.RFC3339, str(t, st, "dateTime")); err != nil {
		t.Errorf("dateTime: %v", err)
	}

	body := `{"id": "5", "checkoutDateTime": "2026-11-23T13:00:00+03:00", "docNum": "5", "docType": "SALE", ` +
		`"email": "artur@example.com", "inventPositions": [{"name": "Product name", "price": 5.00, "quantity": 1.000, "vatTag": 1105, "discSum": 0.00}], ` +
		`"moneyPositions": [{"paymentType": "CARD", "sum": 5.00}], "printReceipt": false, ` +
		`"responseUrl": "https://shop.example/modulkassa/5", "TaxMode": "SIMPLIFIED"}`
	hdr := map[string]string{"Content-Type": "application/json"}
	a = f.send(request{method: "POST", path: "/api/fn/v1/doc", user: user, pass: pass, header: hdr, body: body})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" || str(t, a.object(t), "fnState") == "" {
		t.Fatalf("doc: HTTP %d %s", a.code, a.body)
	}
	a = f.send(request{method: "GET", path: "/api/fn/v1/doc/5/status", user: user, pass: pass})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" {
		t.Fatalf("doc status: HTTP %d %s", a.code, a.body)
	}

	// RequestException::fromJson: error, status, message, path, timestamp.
	bad := strings.Replace(strings.Replace(body, `"sum": 5.00`, `"sum": 5.01`, 1), `"5"`, `"6"`, -1)
	e := jsonError(t, f.send(request{method: "POST", path: "/api/fn/v1/doc", user: user, pass: pass, header: hdr, body: bad}),
		http.StatusBadRequest, "moneyPositions")
	if e["error"] != "Bad Request" || e["status"] != float64(400) || e["path"] != "/api/fn/v1/doc" {
		t.Errorf("error body %v", e)
	}
	if _, err := time.Parse(time.RFC3339, str(t, e, "timestamp")); err != nil {
		t.Errorf("timestamp: %v", err)
	}
	// Unknown id, wrong pair, wrong method: JSON too, with their codes.
	jsonError(t, f.send(request{method: "GET", path: "/api/fn/v1/doc/7/status", user: user, pass: pass}), http.StatusNotFound, "id")
	jsonError(t, f.send(request{method: "GET", path: "/api/fn/v1/status", user: user, pass: "x"}), http.StatusUnauthorized, "")
	jsonError(t, f.send(request{method: "PUT", path: "/api/fn/v1/status", user: user, pass: pass}), http.StatusMethodNotAllowed, "")
	jsonError(t, f.send(request{method: "GET", path: "/api/fn/v1/nothing", user: user, pass: pass}), http.StatusNotFound, "")
	jsonError(t, f.send(request{method: "GET", path: "/api/fn", user: user, pass: pass}), http.StatusNotFound, "")
}

// skeeks-cms/cms-shop-cloud-cashbox-modulkassa, src/ModulkassaHandler.php
// (Yii2): before each receipt it calls GET …/api/v1/retail-point/{id} with the
// cabinet account's Basic auth and keeps name, address, inn and
// kkmInfo.paymentsAddress; associate under …/api/fn with the same account and
// no body; POST …/api/fn/v2/doc with docNum as the order's integer id, taxMode
// and cashierName null when unset, responseURL with the check's id. It
// compares the status lowercased with "ready"; a document is done on PRINTED,
// WAIT_FOR_CALLBACK or COMPLETED, when it reads fiscalInfo's qr, checkNumber,
// date, ecrRegistrationNumber, fnDocMark, kktNumber, fnDocNumber, fnNumber and
// shiftNumber. Any answer not 2xx is a failure.
func TestClientSkeeksCloudCashbox(t *testing.T) {
	f := newFixture(t, Config{})
	shopSite := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "OK") }))
	defer shopSite.Close()
	hdr := map[string]string{"Content-Type": "application/json; charset=UTF-8"}

	a := f.send(request{method: "GET", path: "/api/v1/retail-point/" + f.sb.RetailPointID,
		user: f.sb.CabinetLogin, pass: f.sb.CabinetPassword, header: hdr})
	if a.code != http.StatusOK {
		t.Fatalf("retail point: HTTP %d %s", a.code, a.body)
	}
	p := a.object(t)
	kkm, _ := p["kkmInfo"].(map[string]any)
	if str(t, p, "name") != `ООО "Песочница"` || str(t, p, "address") != "г. Москва, ул. Тверская, д. 1" ||
		str(t, p, "inn") != "7707083893" || kkm == nil || kkm["paymentsAddress"] != "https://shop.example" {
		t.Errorf("retail point %s", a.body)
	}
	jsonError(t, f.send(request{method: "GET", path: "/api/v1/retail-point/" + f.sb.RetailPointID,
		user: f.sb.CabinetLogin, pass: "wrong"}), http.StatusUnauthorized, "")
	jsonError(t, f.send(request{method: "GET", path: "/api/v1/retail-point/00000000-0000-4000-8000-000000000000",
		user: f.sb.CabinetLogin, pass: f.sb.CabinetPassword}), http.StatusNotFound, "retailPointId")
	// The integration pair is not the account: it does not see the point's data.
	user, pass, _ := f.associate("/api/fn", hdr, f.sb.RetailPointID)
	jsonError(t, f.send(request{method: "GET", path: "/api/v1/retail-point/" + f.sb.RetailPointID,
		user: user, pass: pass}), http.StatusUnauthorized, "")

	a = f.send(request{method: "GET", path: "/api/fn/v1/status", user: user, pass: pass, header: hdr})
	if a.code != http.StatusOK || strings.ToLower(str(t, a.object(t), "status")) == "" {
		t.Fatalf("status: HTTP %d %s", a.code, a.body)
	}

	body := `{"docNum":1045,"id":"9b2d4c1e-8a7f-4e3b-b6d5-1c2e3f4a5b6c","docType":"SALE",` +
		`"checkoutDateTime":"2026-11-23T13:00:00+03:00","email":"check@skeeks.com","printReceipt":false,` +
		`"responseURL":"` + shopSite.URL + `/modulkassa/modulkassa/backend?check_id=77","cashierName":null,` +
		`"cashierPosition":"Кассир","taxMode":null,` +
		`"inventPositions":[{"name":"Crème brûlée","price":350.0,"quantity":2,"vatTag":1102,"paymentObject":"commodity","paymentMethod":"full_payment"}],` +
		`"moneyPositions":[{"paymentType":"CARD","sum":700.0}]}`
	a = f.send(request{method: "POST", path: "/api/fn/v2/doc", user: user, pass: pass, header: hdr, body: body})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" {
		t.Fatalf("doc: HTTP %d %s", a.code, a.body)
	}
	id := "9b2d4c1e-8a7f-4e3b-b6d5-1c2e3f4a5b6c"
	f.lease()
	if err := f.client().Report(context.Background(), []cloud.Result{{ID: id, Status: cloud.Printed, FiscalInfo: fiscalInfo(1)}}); err != nil {
		t.Fatal(err)
	}
	a = f.send(request{method: "GET", path: "/api/fn/v1/doc/" + id + "/status", user: user, pass: pass, header: hdr})
	st := a.object(t)
	if s := str(t, st, "status"); s != "PRINTED" && s != "WAIT_FOR_CALLBACK" && s != "COMPLETED" {
		t.Fatalf("doc status: %s", a.body)
	}
	fi, _ := st["fiscalInfo"].(map[string]any)
	for _, k := range []string{"qr", "checkNumber", "date", "ecrRegistrationNumber", "fnDocMark", "kktNumber", "fnDocNumber", "fnNumber", "shiftNumber"} {
		if fi == nil || fi[k] == nil {
			t.Errorf("fiscalInfo.%s missing: %s", k, a.body)
		}
	}
	// A wrong pair is a failure the client shows with the body: JSON, 401.
	jsonError(t, f.send(request{method: "POST", path: "/api/fn/v2/doc", user: user, pass: "x", header: hdr, body: body}),
		http.StatusUnauthorized, "")
}

// fred01/modulpos.cashbox, lib/cashboxmodul.php (1C-Bitrix): base …/api/fn;
// file_get_contents with "Content-Type: application/json" and Basic auth
// written by hand. The check's id is Bitrix's integer check id, sent as id and
// as docNum; each position carries description "" and vatTag as Bitrix's
// item VAT, null for goods without VAT. It revokes with DELETE …/associate
// (no version) and reads nothing of a failure but the failure.
func TestClientModulposCashbox(t *testing.T) {
	f := newFixture(t, Config{})
	// The second sandbox point, on the patent: its seller owes no VAT.
	point := f.sb.RetailPoints[1].ID
	pr, err := f.srv.store.Point(context.Background(), point)
	if err != nil {
		t.Fatal(err)
	}
	pr.Point.TaxSystems = fiscal.TaxPatent
	if err := f.srv.store.PutPoint(context.Background(), pr); err != nil {
		t.Fatal(err)
	}
	hdr := map[string]string{"Content-Type": "application/json"}
	user, pass, m := f.associate("/api/fn", hdr, point)
	if m["name"] != `ООО "Песочница", второй магазин` {
		t.Errorf("associate: %v", m)
	}

	body := func(id int, vat string) string {
		return fmt.Sprintf(`{
    "id": %d,
    "checkoutDateTime": "2026-11-23T13:00:00+03:00",
    "docNum": %d,
    "docType": "SALE",
    "email": "buyer@example.com",
    "responseURL": "https://shop.example/bitrix/tools/cashboxmodul_print_callback.php?token=5d41402abc4b2a76b9719d911017c592&docId=%d",
    "inventPositions": [
        {
            "description": "",
            "name": "Подарочная карта",
            "price": 1500,
            "quantity": 1,
            "vatTag": %s
        }
    ],
    "moneyPositions": [
        {
            "paymentType": "CARD",
            "sum": 1500
        }
    ]
}`, id, id, id, vat)
	}
	a := f.send(request{method: "POST", path: "/api/fn/v1/doc", user: user, pass: pass, header: hdr, body: body(42, "null")})
	if a.code >= 400 {
		t.Fatalf("doc: HTTP %d %s", a.code, a.body)
	}
	if want := "Document queued for printing; inventPositions[0]: no vatTag under PATENT, written as 1105 (without VAT)"; a.object(t)["message"] != want {
		t.Errorf("message %q, want %q", a.object(t)["message"], want)
	}
	// The same check sent again, as its id in text: the same document.
	again := strings.Replace(body(42, "null"), `"id": 42`, `"id": "42"`, 1)
	if a := f.send(request{method: "POST", path: "/api/fn/v1/doc", user: user, pass: pass, header: hdr, body: again}); a.code != http.StatusOK {
		t.Errorf("re-post of 42 as text: HTTP %d %s", a.code, a.body)
	}
	a = f.send(request{method: "GET", path: "/api/fn/v1/doc/42/status", user: user, pass: pass, header: hdr})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" {
		t.Errorf("status of 42: HTTP %d %s", a.code, a.body)
	}

	// Revoke as the module does; the pair then stops working.
	a = f.send(request{method: "DELETE", path: "/api/fn/associate", user: user, pass: pass, header: hdr})
	if a.code/100 != 2 {
		t.Fatalf("revoke: HTTP %d %s", a.code, a.body)
	}
	jsonError(t, f.send(request{method: "POST", path: "/api/fn/v1/doc", user: user, pass: pass, header: hdr, body: body(43, "null")}),
		http.StatusUnauthorized, "")

	// On the first point (general tax system and УСН) a null vatTag is no rate.
	jsonError(t, f.send(request{method: "POST", path: "/api/fn/v1/doc", user: f.sb.Login, pass: f.sb.Password, header: hdr, body: body(44, "null")}),
		http.StatusBadRequest, "inventPositions[0].vatTag")
}

// bigperson/modulpos-php-api-client, src/Associate.php, src/Client.php,
// src/CheckDataFactory.php, src/Requests/Request.php and src/Config.php:
// base …/api/fn, or in test mode the vendor's demo base …/fn. The body is
// json_encode of id, checkoutDateTime, docNum (the shop's order id, an
// integer), docType, printReceipt, email, and positions of name, price,
// quantity and vatTag only; responseURL is never sent. Request.php sets
// "Content-Type: application/json" on every call, a GET too, and decodes the
// answer as JSON; Guzzle throws on 4xx and 5xx.
func TestClientModulposPHPAPIClient(t *testing.T) {
	for _, base := range []string{"/api/fn", "/fn"} {
		t.Run(strings.TrimPrefix(base, "/"), func(t *testing.T) {
			f := newFixture(t, Config{})
			hdr := map[string]string{"Content-Type": "application/json"}
			user, pass, _ := f.associate(base, nil, f.sb.RetailPointID)
			a := f.send(request{method: "GET", path: base + "/v1/status", user: user, pass: pass, header: hdr})
			if a.code != http.StatusOK || str(t, a.object(t), "status") != "ASSOCIATED" {
				t.Fatalf("status: HTTP %d %s", a.code, a.body)
			}
			body := `{"id":"efbafcdd-113a-45db-8fb9-718b1fdc3524","checkoutDateTime":"2026-11-23T06:06:58+00:00",` +
				`"docNum":12345,"docType":"SALE","printReceipt":false,"email":"test@example.com",` +
				`"inventPositions":[{"name":"Продажа по свободной цене","price":100,"quantity":1,"vatTag":1107}],` +
				`"moneyPositions":[{"paymentType":"CARD","sum":100}]}`
			a = f.send(request{method: "POST", path: base + "/v1/doc", user: user, pass: pass, header: hdr, body: body})
			if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" {
				t.Fatalf("doc: HTTP %d %s", a.code, a.body)
			}
			a = f.send(request{method: "GET", path: base + "/v1/doc/efbafcdd-113a-45db-8fb9-718b1fdc3524/status", user: user, pass: pass, header: hdr})
			if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" {
				t.Fatalf("doc status: HTTP %d %s", a.code, a.body)
			}
			// A vatTag outside the codes is still refused, as JSON the client decodes.
			bad := strings.Replace(strings.Replace(body, "1107", "1108", 1), "efbafcdd", "efbafcde", 1)
			jsonError(t, f.send(request{method: "POST", path: base + "/v1/doc", user: user, pass: pass, header: hdr, body: bad}),
				http.StatusBadRequest, "inventPositions[0].vatTag")
		})
	}
}

// AlexanderShvaykin/module_pos, lib/module_pos/fiscalization/client.rb and
// json_request.rb with spec/fixtures/doc.json (Ruby, Faraday): associate with
// clientId in the query; documents posted to …/v2/doc and their status and
// re-queue asked under …/v2/doc too; the revoke is DELETE
// …/v1/associate/{point} with the pair. The body carries null for every unset
// field. Faraday does not raise on 4xx: every non-empty body, an error's too,
// is parsed as JSON, and anything else raises InvalidResponse.
func TestClientModulePosRuby(t *testing.T) {
	f := newFixture(t, Config{})
	hdr := map[string]string{"Content-Type": "application/json"}
	a := f.send(request{method: "POST", path: "/api/fn/v1/associate/" + f.sb.RetailPointID + "?clientId=ruby",
		user: f.sb.CabinetLogin, pass: f.sb.CabinetPassword, header: hdr})
	if a.code != http.StatusOK {
		t.Fatalf("associate: HTTP %d %s", a.code, a.body)
	}
	user, pass := str(t, a.object(t), "userName"), str(t, a.object(t), "password")

	body := `{
  "docNum": "Order-1",
  "id": "dda2911b-5681-4a02-bd3d-3f0d0df849da",
  "docType": "SALE",
  "checkoutDateTime": "2026-11-23T15:45:17+07:00",
  "email": "example@example.com",
  "printReceipt": false,
  "textToPrint": null,
  "cashierName": "ФИО кассира",
  "cashierInn": null,
  "cashierPosition": "Старший кассир",
  "responseURL": "https://internet.shop.ru/order/982340931/checkout?completed=1",
  "taxMode": "COMMON",
  "clientName": null,
  "clientInn": null,
  "agentInfo": null,
  "inventPositions": [
    {
      "barcode": "10001",
      "name": "Молоко Лебедевское, 2,5%",
      "nomenclatureCode": null,
      "productMark": null,
      "price": 52,
      "discSum": "5.2",
      "quantity": 1,
      "vatSum": null,
      "vatTag": 1102,
      "paymentObject": "commodity",
      "paymentMethod": "full_payment",
      "originCountryCode": null,
      "customsDeclarationNumber": null,
      "agentInfo": null,
      "supplierInfo": null
    }
  ],
  "moneyPositions": [{"paymentType": "CARD", "sum": "46.8"}]
}`
	a = f.send(request{method: "POST", path: "/api/fn/v2/doc", user: user, pass: pass, header: hdr, body: body})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" {
		t.Fatalf("doc: HTTP %d %s", a.code, a.body)
	}
	id := "dda2911b-5681-4a02-bd3d-3f0d0df849da"
	a = f.send(request{method: "GET", path: "/api/fn/v2/doc/" + id + "/status", user: user, pass: pass, header: hdr})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" {
		t.Fatalf("status under v2: HTTP %d %s", a.code, a.body)
	}
	// Re-queue of a document that has not failed: 409, a JSON body Ruby parses.
	jsonError(t, f.send(request{method: "PUT", path: "/api/fn/v2/doc/" + id + "/re-queue", user: user, pass: pass, header: hdr}),
		http.StatusConflict, "id")

	// The revoke names the point; another point's id is not the pair's.
	jsonError(t, f.send(request{method: "DELETE", path: "/api/fn/v1/associate/" + f.sb.RetailPoints[1].ID, user: user, pass: pass, header: hdr}),
		http.StatusNotFound, "retailPointId")
	a = f.send(request{method: "DELETE", path: "/api/fn/v1/associate/" + f.sb.RetailPointID, user: user, pass: pass, header: hdr})
	if a.code != http.StatusNoContent || len(a.body) != 0 {
		t.Fatalf("revoke: HTTP %d %q", a.code, a.body)
	}
	jsonError(t, f.send(request{method: "GET", path: "/api/fn/v1/status", user: user, pass: pass, header: hdr}), http.StatusUnauthorized, "")
	// The sandbox's own pair is another clientId's: it still works.
	if st := f.pointStatus(); st.Status != cloud.Associated {
		t.Errorf("sandbox pair after the revoke: %+v", st)
	}
}

// AleksandrGoriachev/Tilda-AlfaBank-ModulKassa_Bridge, API/modulConnect.php
// and savePayment.php: curl with CURLOPT_USERPWD; the base ends in a slash
// (…/api/fn/) and paths follow it. The document's fields come from MySQL as
// text: vatTag "1105" and quantity "3" are strings; the price is the bank's
// amount divided in PHP (333.3). It reads status from the answer and treats
// FAILED as a failure.
func TestClientTildaAlfaBankBridge(t *testing.T) {
	f := newFixture(t, Config{})
	a := f.send(request{method: "GET", path: "/api/fn/v1/status", user: f.sb.Login, pass: f.sb.Password})
	if a.code != http.StatusOK || str(t, a.object(t), "status") == "FAILED" {
		t.Fatalf("status: HTTP %d %s", a.code, a.body)
	}
	body := `{"docNum":"4711","docType":"SALE","checkoutDateTime":"2026-11-23T13:00:00+03:00","email":"buyer@example.com",` +
		`"printReceipt":true,"id":"6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b","taxMode":"SIMPLIFIED",` +
		`"inventPositions":[{"name":"Консультация","price":333.3,"quantity":"3","vatTag":"1105","paymentObject":"service","paymentMethod":"full_payment"}],` +
		`"moneyPositions":[{"paymentType":"CARD","sum":999.9}]}`
	a = f.send(request{method: "POST", path: "/api/fn/v1/doc", user: f.sb.Login, pass: f.sb.Password,
		header: map[string]string{"Accept": "*/*", "Content-Type": "application/json"}, body: body})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "QUEUED" {
		t.Fatalf("doc: HTTP %d %s", a.code, a.body)
	}
	r := f.lease()["6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"]
	if got := itemSums(r); got != "3 × 33330 = 99990" || r.Items[0].VAT != fiscal.VATNone || r.Items[0].Subject != 4 {
		t.Errorf("items %s, VAT %v, subject %d", got, r.Items[0].VAT, r.Items[0].Subject)
	}
	a = f.send(request{method: "GET", path: "/api/fn/v1/doc/6f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b/status", user: f.sb.Login, pass: f.sb.Password})
	if a.code != http.StatusOK || str(t, a.object(t), "status") != "PENDING" {
		t.Errorf("doc status: HTTP %d %s", a.code, a.body)
	}
}
