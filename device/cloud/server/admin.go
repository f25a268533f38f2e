package server

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/fiscal"
)

// adminClientID is the client id of the integration pairs the admin API issues.
const adminClientID = "admin"

// adminRoutes serves the operator's provisioning API under /api/admin/v1
// (docs/admin.md), when Config.AdminToken is set; else it answers 404.
func (s *Server) adminRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /api/admin/v1/accounts", s.admin(s.adminCreateAccount))
	mux.HandleFunc("GET /api/admin/v1/accounts/{login}", s.admin(s.adminAccount))
	mux.HandleFunc("POST /api/admin/v1/points", s.admin(s.adminCreatePoint))
	mux.HandleFunc("GET /api/admin/v1/points/{id}", s.admin(s.adminPoint))
	mux.HandleFunc("POST /api/admin/v1/points/{id}/shop-logins", s.admin(s.adminShopLogin))
	mux.HandleFunc("POST /api/admin/v1/points/{id}/register", s.admin(s.adminBindRegister))
}

// admin checks the bearer token of the admin API in constant time.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	want := sha256.Sum256([]byte(s.cfg.AdminToken))
	return func(w http.ResponseWriter, r *http.Request) {
		if s.cfg.AdminToken == "" {
			http.NotFound(w, r)
			return
		}
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="kassa admin"`)
			writeJSON(w, http.StatusUnauthorized, cloud.APIError{Message: "the admin API's bearer token is wrong or missing"})
			return
		}
		h(w, r)
	}
}

// adminAccountView is an account as the admin API shows it: never its hash.
type adminAccountView struct {
	Login  string   `json:"login"`
	Points []string `json:"points"`
}

func (s *Server) adminCreateAccount(w http.ResponseWriter, r *http.Request) {
	var in struct{ Login, Password string }
	if !decodeBody(w, r, &in) {
		return
	}
	if err := checkLogin(in.Login); err != nil {
		writeFieldError(w, err)
		return
	}
	if n := utf8.RuneCountInString(in.Password); n < 8 || n > 72 {
		writeFieldError(w, cloud.FieldErrorf("password", "from 8 to 72 characters, not %d", n))
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.cfg.PasswordCost)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	err = s.store.CreateAccount(r.Context(), storage.Account{Login: in.Login, PasswordHash: hash, Points: []string{}})
	if errors.Is(err, storage.ErrConflict) {
		writeJSON(w, http.StatusConflict, cloud.APIError{Field: "login", Message: fmt.Sprintf("account %q exists", in.Login)})
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cloud: account created by the admin API", "login", in.Login)
	writeJSON(w, http.StatusCreated, adminAccountView{Login: in.Login, Points: []string{}})
}

// checkLogin: 3–64 letters, digits, '.', '-', '_' or '@'.
func checkLogin(login string) error {
	if n := len(login); n < 3 || n > 64 {
		return cloud.FieldErrorf("login", "from 3 to 64 characters, not %d", n)
	}
	for _, c := range login {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-_@", c)) {
			return cloud.FieldErrorf("login", "%q: only Latin letters, digits, '.', '-', '_' and '@'", c)
		}
	}
	return nil
}

func (s *Server) adminAccount(w http.ResponseWriter, r *http.Request) {
	a, err := s.store.Account(r.Context(), r.PathValue("login"))
	if s.adminNotFound(w, r, err, "account") {
		return
	}
	writeJSON(w, http.StatusOK, adminAccountView{Login: a.Login, Points: append([]string{}, a.Points...)})
}

// adminPointIn is a new point's seller data, as the registration carries it.
type adminPointIn struct {
	Account    string   `json:"account"`
	Name       string   `json:"name"`
	INN        string   `json:"inn"`
	Address    string   `json:"address"`
	Place      string   `json:"place"`
	Email      string   `json:"email"`
	TaxSystems []string `json:"taxSystems"`
	TimeZone   string   `json:"timeZone"`
}

// point checks the seller data, naming the field and its limit, and makes the point.
func (in adminPointIn) point() (cloud.Point, error) {
	p := cloud.Point{Name: strings.TrimSpace(in.Name), INN: in.INN, Address: strings.TrimSpace(in.Address),
		Place: strings.TrimSpace(in.Place), Email: in.Email, TimeZone: in.TimeZone}
	switch {
	case in.Account == "":
		return p, cloud.FieldErrorf("account", "required")
	case p.Name == "" || utf8.RuneCountInString(p.Name) > 256:
		return p, cloud.FieldErrorf("name", "from 1 to 256 characters")
	case !fiscal.ValidINN(p.INN):
		return p, cloud.FieldErrorf("inn", "%q: not an INN (10 or 12 digits with their check digits)", p.INN)
	case p.Address == "" || utf8.RuneCountInString(p.Address) > 256:
		return p, cloud.FieldErrorf("address", "from 1 to 256 characters")
	case utf8.RuneCountInString(p.Place) > 256:
		return p, cloud.FieldErrorf("place", "at most 256 characters")
	case len(in.TaxSystems) == 0:
		return p, cloud.FieldErrorf("taxSystems", "at least one of COMMON, SIMPLIFIED, SIMPLIFIED_WITH_EXPENSE, ENVD, COMMON_AGRICULTURAL, PATENT")
	}
	for _, f := range []struct{ name, v string }{{"name", p.Name}, {"address", p.Address}, {"place", p.Place}} {
		if err := cloud.CheckControls(f.name, f.v, ""); err != nil {
			return p, err
		}
	}
	if p.Email != "" {
		if _, err := mail.ParseAddress(p.Email); err != nil {
			return p, cloud.FieldErrorf("email", "%q: not an address", p.Email)
		}
	}
	for i, t := range in.TaxSystems {
		bit, ok := cloud.TaxModes[t]
		if !ok {
			return p, cloud.FieldErrorf(fmt.Sprintf("taxSystems[%d]", i), "unknown %q", t)
		}
		p.TaxSystems |= bit
	}
	if p.TimeZone == "" {
		p.TimeZone = "Europe/Moscow"
	}
	for _, z := range zones {
		if z.Name == p.TimeZone {
			return p, nil
		}
	}
	return p, cloud.FieldErrorf("timeZone", "%q: not one of Russia's zones the cabinet offers (Europe/Moscow, Asia/Vladivostok, …)", p.TimeZone)
}

func (s *Server) adminCreatePoint(w http.ResponseWriter, r *http.Request) {
	var in adminPointIn
	if !decodeBody(w, r, &in) {
		return
	}
	p, err := in.point()
	if err != nil {
		writeFieldError(w, err)
		return
	}
	if p.ID, err = s.uuid(); err != nil {
		s.internal(w, r, err)
		return
	}
	defaultSettings(&p)
	err = s.store.CreatePoint(r.Context(), storage.Point{Point: p, Account: in.Account, Settings: true})
	if errors.Is(err, storage.ErrNotFound) {
		writeJSON(w, http.StatusNotFound, cloud.APIError{Field: "account", Message: fmt.Sprintf("no account %q", in.Account)})
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cloud: retail point created by the admin API", "point", p.ID, "account", in.Account)
	writeJSON(w, http.StatusCreated, p)
}

// adminPointView is a point with its owner and its register, as the admin API shows it.
type adminPointView struct {
	Point    cloud.Point        `json:"point"`
	Account  string             `json:"account"`
	Register *adminRegisterView `json:"register"`
}

type adminRegisterView struct {
	BoundAt  time.Time     `json:"boundAt"`
	LastSeen time.Time     `json:"lastSeen,omitzero"`
	Health   *cloud.Health `json:"health,omitempty"`
}

func (s *Server) adminPoint(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p, err := s.store.Point(ctx, r.PathValue("id"))
	if s.adminNotFound(w, r, err, "retail point") {
		return
	}
	v := adminPointView{Point: p.Point, Account: p.Account}
	reg, err := s.store.PointRegister(ctx, p.Point.ID)
	switch {
	case err == nil:
		v.Register = &adminRegisterView{BoundAt: reg.BoundAt, LastSeen: reg.LastSeen, Health: reg.Health}
	case !errors.Is(err, storage.ErrNotFound):
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (s *Server) adminShopLogin(w http.ResponseWriter, r *http.Request) {
	id, ok := s.adminPointID(w, r)
	if !ok {
		return
	}
	user, password, err := s.newShopLogin(r.Context(), id, adminClientID, true)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cloud: integration pair issued by the admin API", "point", id, "user", user)
	writeJSON(w, http.StatusCreated, map[string]string{"login": user, "password": password})
}

// newShopLogin issues a new password for the integration pair of (point,
// client) and returns its user name: the pair's own, or with fresh (or for a
// new pair) a new one, the earlier name then ending at once.
func (s *Server) newShopLogin(ctx context.Context, pointID, clientID string, fresh bool) (user, password string, err error) {
	if password, err = s.secret(); err != nil {
		return "", "", err
	}
	salt, err := s.random(16)
	if err != nil {
		return "", "", err
	}
	login, err := s.random(8)
	if err != nil {
		return "", "", err
	}
	user, err = s.store.IssueShopLogin(ctx, storage.ShopLogin{User: hex.EncodeToString(login), PointID: pointID, ClientID: clientID,
		Salt: salt, Hash: hashSecret(salt, password)}, fresh)
	return user, password, err
}

func (s *Server) adminBindRegister(w http.ResponseWriter, r *http.Request) {
	id, ok := s.adminPointID(w, r)
	if !ok {
		return
	}
	b, err := s.random(32)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	if err := s.store.BindRegister(r.Context(), storage.Register{ID: tokenKey(token), PointID: id, BoundAt: s.now()}); err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cloud: register token issued by the admin API", "point", id)
	writeJSON(w, http.StatusCreated, map[string]string{"token": token})
}

// adminPointID is the path's point, answering 404 when there is none.
func (s *Server) adminPointID(w http.ResponseWriter, r *http.Request) (string, bool) {
	p, err := s.store.Point(r.Context(), r.PathValue("id"))
	if s.adminNotFound(w, r, err, "retail point") {
		return "", false
	}
	return p.Point.ID, true
}

// adminNotFound answers err, if any: 404 for storage.ErrNotFound.
func (s *Server) adminNotFound(w http.ResponseWriter, r *http.Request, err error, what string) bool {
	switch {
	case err == nil:
		return false
	case errors.Is(err, storage.ErrNotFound):
		writeJSON(w, http.StatusNotFound, cloud.APIError{Message: "no such " + what})
	default:
		s.internal(w, r, err)
	}
	return true
}
