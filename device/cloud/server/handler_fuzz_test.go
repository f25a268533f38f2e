package server

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud/cloudtest"
	"golang.org/x/crypto/bcrypt"
)

// FuzzHandler sends what an attacker might to every route of the cloud: any
// method, path, query, headers of its choosing and body, with the sandbox
// point's credentials, the cabinet's, wrong ones or none. No input may panic
// a handler or make it fail with 500 (a 500 is the cloud's fault, never the
// request's), and every API answer but 204 is JSON.
func FuzzHandler(f *testing.F) {
	srv, err := Open(Config{Dir: f.TempDir(), PasswordCost: bcrypt.MinCost, AllowPrivateTargets: true,
		SourceBurst: 1 << 20, LoginAttempts: 1 << 20, MaxWait: time.Millisecond}) // a long-poll would hold the worker
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { srv.Close() })
	sb, err := srv.Sandbox()
	if err != nil {
		f.Fatal(err)
	}
	h := srv.Handler()
	methods := []string{"GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"}
	for _, s := range []struct {
		method, auth byte
		target       string
		header, body string
	}{
		{1, 1, "/api/fn/v2/doc", "", string(cloudtest.Doc(nil))},
		{1, 1, "/api/fn/v1/doc", "Content-Type: text/plain", `{"id":"x","inventPositions":[{"price":1e308,"quantity":1e308}]}`},
		{0, 1, "/api/fn/v1/doc/3769574b-d082-4fe2-8cf0-dee21f9a7e0f/status", "", ""},
		{2, 1, "/api/fn/v1/doc/%2e%2e/re-queue", "", ""},
		{0, 1, "/api/fn/v1/status", "", ""},
		{1, 2, "/api/fn/v1/associate/" + sb.RetailPointID + "?clientId=crm", "X-Forwarded-For: 203.0.113.9", ""},
		{1, 3, "/api/device/v1/lease?wait=30s&max=16&resume=1", "", ""},
		{1, 3, "/api/device/v1/results", "", `[{"id":"x","status":"PRINTED","fiscalInfo":{"fnDocNumber":-1}}]`},
		{1, 3, "/api/device/v1/heartbeat", "", `{"at":"2026-11-23T10:00:00Z","drive":{"warnings":["x"]}}`},
		{0, 0, "/cabinet/static/%2e%2e/templates/layout.html", "", ""},
		{1, 0, "/cabinet/login", "Cookie: kassa_login_csrf=a", "csrf=a&login=x&password=y"},
		{0, 0, "/cabinet/documents.csv?state=COMPLETED&from=2026-13-40", "Cookie: kassa_session=x", ""},
	} {
		f.Add(s.method, s.auth, s.target, s.header, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, method, auth byte, target, header string, body []byte) {
		if !strings.HasPrefix(target, "/") {
			return
		}
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		req := httptest.NewRequest("GET", "/", bytes.NewReader(body))
		req.Method, req.URL, req.RequestURI = methods[int(method)%len(methods)], u, target
		req.RemoteAddr = "192.0.2.1:4321"
		for _, line := range strings.Split(header, "\n") {
			k, v, ok := strings.Cut(line, ":")
			if k = strings.TrimSpace(k); ok && k != "" {
				req.Header.Add(k, strings.TrimSpace(v))
			}
		}
		switch auth % 5 {
		case 1:
			req.SetBasicAuth(sb.Login, sb.Password)
		case 2:
			req.SetBasicAuth(sb.CabinetLogin, sb.CabinetPassword)
		case 3:
			req.Header.Set("Authorization", "Bearer "+sb.RegisterToken)
		case 4:
			req.SetBasicAuth(sb.Login, "wrong")
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code >= 500 {
			t.Fatalf("%s %s: HTTP %d %s", req.Method, target, w.Code, w.Body.Bytes())
		}
		if strings.HasPrefix(u.Path, "/api/") && w.Code != http.StatusNoContent && w.Code != http.StatusMovedPermanently &&
			w.Code != http.StatusTemporaryRedirect && w.Code != http.StatusPermanentRedirect && w.Code != http.StatusNotFound &&
			w.Code != http.StatusMethodNotAllowed && !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
			t.Fatalf("%s %s: HTTP %d with Content-Type %q", req.Method, target, w.Code, w.Header().Get("Content-Type"))
		}
	})
}
