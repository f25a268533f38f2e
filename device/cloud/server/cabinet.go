package server

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/cabinet"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// OFDs are the operators the cabinet offers: our emulator first (the sandbox's
// default), then real operators with their public registry data.
var OFDs = []cloud.OFD{
	{Name: "Эмулятор ОФД kassa", INN: "7700000009", Site: "http://127.0.0.1:7778"},
	{Name: "ООО «Такском»", INN: "7704211201", Site: "https://receipt.taxcom.ru"},
	{Name: "АО «ПФ «СКБ Контур» (Контур.ОФД)", INN: "6663003127", Site: "https://ofd.kontur.ru"},
	{Name: "ООО «ПЕТЕР-СЕРВИС Спецтехнологии» (OFD.ru)", INN: "7841465198", Site: "https://check.ofd.ru"},
	{Name: "АО «ЭСК» (Первый ОФД)", INN: "7709364346", Site: "https://consumer.1-ofd.ru"},
	{Name: "ООО «Компания «Тензор» (ОФД СБИС)", INN: "7605016030", Site: "https://ofd.sbis.ru"},
	{Name: "АО «Калуга Астрал» (Астрал.ОФД)", INN: "4029017981", Site: "https://ofd.astralnalog.ru"},
}

const (
	sessionCookie    = "kassa_session"
	loginCSRFCookie  = "kassa_login_csrf"
	csrfField        = "csrf"
	cabinetClientID  = "cabinet" // the clientId of the pairs the cabinet issues
	cabinetPrefix    = "/cabinet/"
	maxListedDocs    = 500
	maxListedAlerts  = 200
	cabinetFormLimit = 64 << 10
)

// ruWait says a wait to the second below a minute, else to the minute, rounded up.
func ruWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d с", int((d+time.Second-1)/time.Second))
	}
	return ruDuration(d + time.Minute - 1)
}

// pages are the cabinet's templates, each page parsed with the layout, on
// first use: a register, which links this package for its client, never
// parses them.
var pages = sync.OnceValue(func() map[string]*template.Template {
	funcs := template.FuncMap{
		"when":     formatWhen,
		"docState": docStateWord,
		"regState": regStateWord,
		"kind":     kindWord,
		"zoneName": zoneName,
		"command":  func(kind string) string { return commandWords[kind] },
		"ops":      shiftOps,
		"takings":  shiftTakings,
		"ago":      ruDuration,
		"money":    rubles,
		"kopecks":  func(k int64) string { return strings.Replace(cloud.Money(k).String(), ".", ",", 1) },
		"hasTax":   func(p cloud.Point, name string) bool { return p.TaxSystems&cloud.TaxModes[name] != 0 },
		"taxName":  func(name string) string { return taxNames[name] },
		"pathesc":  pathEscape,
		"ru":       ruWord,
	}
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(cabinet.Files, "templates/layout.html"))
	out := map[string]*template.Template{}
	names, err := fs.Glob(cabinet.Files, "templates/*.html")
	if err != nil {
		panic(err)
	}
	for _, n := range names {
		name := strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		out[name] = template.Must(template.Must(base.Clone()).ParseFS(cabinet.Files, n))
	}
	return out
})

// ruWords are the register's health words as the owner reads them in the cabinet.
var ruWords = map[string]string{
	"not registered": "не зарегистрирован", "fiscal": "фискальный режим", "archive closed": "архив закрыт",
	"ready": "готов", "none": "не подключён", "ok": "есть", "out": "нет", "near end": "заканчивается",
	"no register serves this retail point": "касса не привязана",
	// The documents' fixed messages of the API.
	"Document queued for printing": "Документ в очереди на кассу", "Document taken by the register": "Документ передан кассе",
	"Document printed":                              "Чек фискализирован, магазин ещё не уведомлён",
	"Document successfully completed":               "Чек фискализирован",
	"Document successfully completed with callback": "Чек фискализирован, магазин уведомлён",
	"Document re-queued for printing":               "Документ снова в очереди на кассу",
}

// ruWord translates a health word, or leaves it as the register sent it.
func ruWord(s string) string {
	if w, ok := ruWords[s]; ok {
		return w
	}
	return s
}

// taxNames are the tax systems as an owner knows them, by the API's taxMode.
var taxNames = map[string]string{
	"COMMON": "ОСН", "SIMPLIFIED": "УСН доход", "SIMPLIFIED_WITH_EXPENSE": "УСН доход − расход",
	"ENVD": "ЕНВД", "COMMON_AGRICULTURAL": "ЕСХН", "PATENT": "ПСН",
}

// taxOrder lists the TaxModes in the order of their bits.
var taxOrder = []string{"COMMON", "SIMPLIFIED", "SIMPLIFIED_WITH_EXPENSE", "ENVD", "COMMON_AGRICULTURAL", "PATENT"}

// moscow is the zone of a point that names none: most owners are there.
var moscow = time.FixedZone("МСК", 3*60*60)

// zones are the time zones of Russia an owner picks for a point, by IANA
// name, with their offsets: Russia keeps no daylight saving time since 2014,
// so fixed offsets are exact and need no time zone database on the server.
var zones = []zoneOption{
	{"Europe/Kaliningrad", "Калининград (МСК−1)", 2}, {"Europe/Moscow", "Москва (МСК)", 3},
	{"Europe/Samara", "Самара (МСК+1)", 4}, {"Asia/Yekaterinburg", "Екатеринбург (МСК+2)", 5},
	{"Asia/Omsk", "Омск (МСК+3)", 6}, {"Asia/Krasnoyarsk", "Красноярск (МСК+4)", 7},
	{"Asia/Irkutsk", "Иркутск (МСК+5)", 8}, {"Asia/Yakutsk", "Якутск (МСК+6)", 9},
	{"Asia/Vladivostok", "Владивосток (МСК+7)", 10}, {"Asia/Magadan", "Магадан (МСК+8)", 11},
	{"Asia/Kamchatka", "Камчатка (МСК+9)", 12},
}

type zoneOption struct {
	Name, Word string
	Offset     int // hours east of UTC
}

// pointZone is the point's time zone: the cabinet shows its times there.
func pointZone(p cloud.Point) *time.Location {
	for _, z := range zones {
		if z.Name == p.TimeZone && z.Offset != 3 {
			return time.FixedZone(fmt.Sprintf("МСК%+d", z.Offset-3), z.Offset*60*60)
		}
	}
	return moscow
}

// zoneName is the zone as the owner reads it: МСК, МСК+4.
func zoneName(loc *time.Location) string { return loc.String() }

// formatWhen writes a time as a Russian owner reads it, in the point's zone:
// 23.11.2026 16:00.
func formatWhen(loc *time.Location, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.In(loc).Format("02.01.2006 15:04")
}

// docStateWords are the documents' states as the owner reads them; the API
// keeps the vendor's English values.
var docStateWords = map[cloud.DocState]string{
	cloud.Queued: "в очереди", cloud.Pending: "передан кассе", cloud.Printed: "фискализирован",
	cloud.WaitForCallback: "ждёт ответа магазина", cloud.Completed: "выполнен", cloud.Failed: "ошибка", cloud.Requeued: "снова в очереди",
}

func docStateWord(s cloud.DocState) string {
	if w, ok := docStateWords[s]; ok {
		return w
	}
	return string(s)
}

// regStateWords are the registers' statuses as the owner reads them.
var regStateWords = map[cloud.RegisterState]string{
	cloud.Ready: "работает", cloud.Associated: "привязана, на связь не выходила", cloud.RegFailed: "неисправна", cloud.Disabled: "не подключена",
}

func regStateWord(s cloud.RegisterState) string {
	if w, ok := regStateWords[s]; ok {
		return w
	}
	return string(s)
}

// rubles writes a sum as the owner reads it: 45,00, and −45,00 for money out.
func rubles(m cloud.Money) string {
	return strings.Replace(strings.Replace(m.String(), ".", ",", 1), "-", "−", 1)
}

func pathEscape(s string) string { return strings.ReplaceAll(template.URLQueryEscaper(s), "+", "%20") }

// view is what every page gets.
type view struct {
	Title  string
	Active string // the menu entry
	Login  string
	CSRF   string
	Flash  string
	Error  string
	Data   any
}

func (s *Server) render(w http.ResponseWriter, r *http.Request, code int, page string, v view) {
	var buf bytes.Buffer
	if err := pages()[page].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.internal(w, r, fmt.Errorf("cabinet page %s: %w", page, err))
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; form-action 'self'; frame-ancestors 'none'")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// cabinetHandler serves a page to a logged-in account.
type cabinetHandler func(w http.ResponseWriter, r *http.Request, c *cabinetCtx)

// cabinetCtx is the request's account and session.
type cabinetCtx struct {
	Login   string
	Session storage.Session
	Account storage.Account
}

func (c *cabinetCtx) view(title, active string) view {
	return view{Title: title, Active: active, Login: c.Login, CSRF: c.Session.CSRF}
}

// owns says whether the account owns the point.
func (c *cabinetCtx) owns(pointID string) bool {
	for _, p := range c.Account.Points {
		if p == pointID {
			return true
		}
	}
	return false
}

func (s *Server) cabinetRoutes(mux *http.ServeMux) {
	static := http.FileServerFS(cabinet.Static)
	mux.Handle("GET /cabinet/static/", http.StripPrefix("/cabinet/static", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Files only: no listings, and no name the file system cannot hold
		// (invalid UTF-8 made the file server answer 500).
		if name := strings.TrimPrefix(r.URL.Path, "/"); strings.HasSuffix(r.URL.Path, "/") || !fs.ValidPath(name) {
			notFound(w)
			return
		}
		static.ServeHTTP(w, r)
	})))
	mux.HandleFunc("GET /cabinet/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/cabinet/registers", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /cabinet/login", s.loginPage)
	mux.HandleFunc("POST /cabinet/login", s.login)
	mux.HandleFunc("POST /cabinet/logout", s.cab(s.logout))
	mux.HandleFunc("GET /cabinet/points", s.cab(s.pointsPage))
	mux.HandleFunc("POST /cabinet/points/{point}", s.cab(s.savePoint))
	mux.HandleFunc("POST /cabinet/points/{point}/credentials", s.cab(s.newCredentials))
	mux.HandleFunc("GET /cabinet/registers", s.cab(s.registersPage))
	mux.HandleFunc("POST /cabinet/registers/{point}/resume", s.cab(s.resume))
	mux.HandleFunc("POST /cabinet/registers/{point}/x-report", s.cab(s.askCommand(cloud.CommandXReport)))
	mux.HandleFunc("POST /cabinet/registers/{point}/close-shift", s.cab(s.askCommand(cloud.CommandCloseShift)))
	mux.HandleFunc("GET /cabinet/documents", s.cab(s.documentsPage))
	mux.HandleFunc("GET /cabinet/documents.csv", s.cab(s.documentsCSV))
	mux.HandleFunc("GET /cabinet/documents/{point}/{id}", s.cab(s.documentPage))
	mux.HandleFunc("GET /cabinet/documents/{point}/{id}/qr.png", s.cab(s.documentQR))
	mux.HandleFunc("POST /cabinet/documents/{point}/{id}/requeue", s.cab(s.requeueFromCabinet))
	mux.HandleFunc("GET /cabinet/alerts", s.cab(s.alertsPage))
	mux.HandleFunc("GET /cabinet/totals", s.cab(s.totalsPage))
}

// cab lets a logged-in account through: without a session a page redirects to
// the log-in, and a POST must carry the session's CSRF token or gets 403.
func (s *Server) cab(h cabinetHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := s.cabinetSession(r)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		if c == nil {
			if r.Method == http.MethodGet {
				http.Redirect(w, r, "/cabinet/login", http.StatusSeeOther)
				return
			}
			http.Error(w, "Сеанс истёк: войдите снова.", http.StatusForbidden)
			return
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, cabinetFormLimit)
			if subtle.ConstantTimeCompare([]byte(r.PostFormValue(csrfField)), []byte(c.Session.CSRF)) != 1 {
				http.Error(w, "Форма устарела или пришла не из кабинета (нет CSRF-токена). Обновите страницу.", http.StatusForbidden)
				return
			}
		}
		h(w, r, c)
	}
}

// cabinetSession returns the request's session, or nil.
func (s *Server) cabinetSession(r *http.Request) (*cabinetCtx, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return nil, nil
	}
	sess, err := s.store.Session(r.Context(), tokenKey(ck.Value), s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	a, err := s.store.Account(r.Context(), sess.Login)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &cabinetCtx{Login: sess.Login, Session: sess, Account: a}, nil
}

// setCookie sets a cabinet cookie that lives for maxAge from when the browser
// gets it: 0 keeps it for the browser's session, a negative maxAge deletes it.
// The lifetime is relative (Max-Age, no Expires), so a browser whose clock
// disagrees with the cloud's keeps it as long as meant; the session's expiry
// is checked on the server by the cloud's clock.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string, maxAge time.Duration) {
	ck := &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true,
		SameSite: http.SameSiteLaxMode, Secure: s.viaTLS(r)}
	switch {
	case maxAge < 0:
		ck.MaxAge = -1
	case maxAge > 0:
		ck.MaxAge = int(max(maxAge/time.Second, 1))
	}
	http.SetCookie(w, ck)
}

type loginData struct {
	Login string
}

// loginPage shows the form with a fresh CSRF token, also set as a cookie: the
// POST must bring both and they must match (there is no session yet to hold it).
func (s *Server) loginPage(w http.ResponseWriter, r *http.Request) {
	s.renderLogin(w, r, http.StatusOK, "", "")
}

func (s *Server) renderLogin(w http.ResponseWriter, r *http.Request, code int, login, problem string) {
	token, err := s.secret()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.setCookie(w, r, loginCSRFCookie, token, "/cabinet/login", 0)
	s.render(w, r, code, "login", view{Title: "Вход", CSRF: token, Error: problem, Data: loginData{Login: login}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, cabinetFormLimit)
	ck, err := r.Cookie(loginCSRFCookie)
	form := r.PostFormValue(csrfField)
	if err != nil || form == "" || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(form)) != 1 {
		http.Error(w, "Форма входа устарела или пришла не из кабинета (нет CSRF-токена). Обновите страницу.", http.StatusForbidden)
		return
	}
	login, pass := strings.TrimSpace(r.PostFormValue("login")), r.PostFormValue("password")
	host := s.clientAddr(r)
	now := s.now()
	wait := s.guard.allow(now, login, host)
	var ok bool
	if wait == 0 {
		_, ok, err = s.checkPassword(r.Context(), login, pass)
		if errors.Is(err, errBusy) {
			wait, err = time.Second, nil
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
	}
	if wait > 0 {
		s.log.Warn("cloud: cabinet log-in refused: too many attempts", "login", login, "addr", host)
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		s.renderLogin(w, r, http.StatusTooManyRequests, login,
			"Слишком много неудачных попыток входа. Повторите через "+ruWait(wait)+".")
		return
	}
	if !ok {
		s.guard.fail(now, login, host)
		s.log.Info("cloud: cabinet log-in failed", "login", login, "addr", host)
		s.renderLogin(w, r, http.StatusUnauthorized, login, "Неверный логин или пароль.")
		return
	}
	s.guard.succeed(login, host)
	token, err := s.secret()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	csrf, err := s.secret()
	if err != nil {
		s.internal(w, r, err)
		return
	}
	sess := storage.Session{Login: login, CSRF: csrf, Expires: now.Add(s.cfg.SessionFor)}
	if err := s.store.PutSession(r.Context(), tokenKey(token), sess); err != nil {
		s.internal(w, r, err)
		return
	}
	s.setCookie(w, r, loginCSRFCookie, "", "/cabinet/login", -1)
	s.setCookie(w, r, sessionCookie, token, cabinetPrefix, s.cfg.SessionFor)
	s.log.Info("cloud: cabinet log-in", "login", login, "addr", host)
	http.Redirect(w, r, "/cabinet/registers", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	ck, _ := r.Cookie(sessionCookie)
	if err := s.store.DeleteSession(r.Context(), tokenKey(ck.Value)); err != nil {
		s.internal(w, r, err)
		return
	}
	s.setCookie(w, r, sessionCookie, "", cabinetPrefix, -1)
	http.Redirect(w, r, "/cabinet/login", http.StatusSeeOther)
}

// points loads the account's points in the account's order.
func (s *Server) points(r *http.Request, c *cabinetCtx) ([]storage.Point, error) {
	var out []storage.Point
	for _, id := range c.Account.Points {
		pr, err := s.store.Point(r.Context(), id)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, pr)
	}
	return out, nil
}

// notFound answers a page the account may not see as absent.
func notFound(w http.ResponseWriter) {
	http.Error(w, "Не найдено.", http.StatusNotFound)
}
