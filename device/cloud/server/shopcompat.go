package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/server/storage"
)

// The shop API as the public ModulKassa clients call it, beyond the paths of
// the vendor's current description: the prefix its description and its demo
// server use, the revokes older clients send, the retail point's own data, and
// errors every client can read. docs/shop-api.md, "Clients", lists who needs what.

// shopPrefixes are the path prefixes under which the shop API answers:
// /api/fn is ours and the vendor's production base; /fn is the path in the
// vendor's description and its demo server's base (https://demo-fn.avanpos.com/fn).
var shopPrefixes = []string{"/api/fn/", "/fn/", "/api/v1/retail-point/"}

// compatRoutes registers the paths shops' clients call besides the vendor's.
func (s *Server) compatRoutes(mux *http.ServeMux) {
	// Revoke: the vendor's DELETE /fn/v1/associate, as an older Bitrix module
	// sends it without the version and a Ruby client with the point's id.
	mux.HandleFunc("DELETE /api/fn/associate", s.shop(s.revoke))
	mux.HandleFunc("DELETE /api/fn/v1/associate/{retailPointId}", s.shop(s.revokePoint))
	// A Ruby client asks a document's status and re-queues it under v2, the
	// version it posts to.
	mux.HandleFunc("GET /api/fn/v2/doc/{id}/status", s.shop(s.docStatus))
	mux.HandleFunc("PUT /api/fn/v2/doc/{id}/re-queue", s.shop(s.requeue))
	// The retail point's data, with the cabinet account's credentials.
	mux.HandleFunc("GET /api/v1/retail-point/{retailPointId}", s.retailPoint)
	// Everything under /fn/ is the same API as under /api/fn/.
	mux.Handle("/fn/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/api" + r.URL.Path
		if r.URL.RawPath != "" {
			r2.URL.RawPath = "/api" + r.URL.RawPath
		}
		mux.ServeHTTP(w, r2)
	}))
}

// revokePoint revokes the pair used to call it, when the path names the
// pair's own retail point; another point's id is unknown to the pair (404).
func (s *Server) revokePoint(w http.ResponseWriter, r *http.Request, pr storage.Point) {
	if r.PathValue("retailPointId") != pr.Point.ID {
		writeError(w, http.StatusNotFound, cloud.APIError{Message: "no such retail point", Field: "retailPointId"})
		return
	}
	s.revoke(w, r, pr)
}

// RetailPoint is the retail point's data as the vendor's GET
// /api/v1/retail-point/{id} answers it: what a shop prints beside the receipt
// or checks before it sends one.
type RetailPoint struct {
	ID      string  `json:"id"`
	Name    string  `json:"name"`    // 1048
	Address string  `json:"address"` // 1009
	INN     string  `json:"inn"`     // 1018
	KKMInfo KKMInfo `json:"kkmInfo"`
}

// KKMInfo is the register's part of RetailPoint.
type KKMInfo struct {
	PaymentsAddress string `json:"paymentsAddress"`     // 1187, the place of settlement (the shop's site)
	RegNumber       string `json:"regNumber,omitempty"` // 1037
}

// retailPoint answers the point's data to its cabinet account (HTTP Basic, as
// associate takes it, and limited as associate is against guessing).
func (s *Server) retailPoint(w http.ResponseWriter, r *http.Request) {
	login, ok := s.cabinetBasic(w, r)
	if !ok {
		return
	}
	pr, err := s.store.Point(r.Context(), r.PathValue("retailPointId"))
	found := err == nil
	if errors.Is(err, storage.ErrNotFound) {
		err = nil
	}
	switch {
	case err != nil:
		s.internal(w, r, err)
	case !found || pr.Account != login:
		writeError(w, http.StatusNotFound, cloud.APIError{Message: "no such retail point", Field: "retailPointId"})
	default:
		p := pr.Point
		writeJSON(w, http.StatusOK, RetailPoint{ID: p.ID, Name: p.Name, Address: p.Address, INN: p.INN,
			KKMInfo: KKMInfo{PaymentsAddress: p.Place, RegNumber: p.RegNumber}})
	}
}

// cabinetBasic checks the cabinet account's HTTP Basic credentials as
// associate does, answering the refusal itself; it reports the login.
func (s *Server) cabinetBasic(w http.ResponseWriter, r *http.Request) (string, bool) {
	login, pass, ok := r.BasicAuth()
	if !ok {
		writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "cabinet credentials required (HTTP Basic)"})
		return "", false
	}
	source := s.clientAddr(r)
	if wait := s.guard.allow(s.now(), login, source); wait > 0 {
		tooMany(w, wait)
		return "", false
	}
	_, ok, err := s.checkPassword(r.Context(), login, pass)
	switch {
	case errors.Is(err, errBusy):
		tooMany(w, time.Second)
		return "", false
	case err != nil:
		s.internal(w, r, err)
		return "", false
	case !ok:
		s.guard.fail(s.now(), login, source)
		writeError(w, http.StatusUnauthorized, cloud.APIError{Message: "wrong cabinet login or password"})
		return "", false
	}
	s.guard.succeed(login, source)
	return login, true
}

// shopError is every error body of the shop API: our message and field, and
// the fields of the vendor's (Spring's) error body, which one public client
// decodes when the Content-Type is exactly application/json.
type shopError struct {
	Message   string    `json:"message"`
	Field     string    `json:"field,omitempty"`
	Status    int       `json:"status"`
	Error     string    `json:"error"`
	Path      string    `json:"path"`
	Timestamp time.Time `json:"timestamp"`
}

// shopErrors answers every error of the shop API as a shopError with
// Content-Type application/json, whoever wrote it: our handlers, or the mux's
// own 404 and 405, which are text. The status codes and headers stay.
func (s *Server) shopErrors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		shopPath := false
		for _, p := range shopPrefixes {
			shopPath = shopPath || strings.HasPrefix(r.URL.Path+"/", p)
		}
		if !shopPath {
			next.ServeHTTP(w, r)
			return
		}
		ew := &errorWriter{ResponseWriter: w}
		next.ServeHTTP(ew, r)
		if !ew.held {
			return
		}
		body := shopError{Status: ew.code, Error: http.StatusText(ew.code), Path: r.URL.Path, Timestamp: s.now()}
		var e cloud.APIError
		if err := json.Unmarshal(ew.buf.Bytes(), &e); err == nil && e.Message != "" {
			body.Message, body.Field = e.Message, e.Field
		} else {
			body.Message = strings.TrimSpace(ew.buf.String()) // http.Error's text
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Del("Content-Length")
		w.WriteHeader(ew.code)
		json.NewEncoder(w).Encode(body)
	})
}

// errorWriter passes a response through unless its status is an error,
// whose body it holds for shopErrors to rewrite.
type errorWriter struct {
	http.ResponseWriter
	code int
	held bool
	buf  bytes.Buffer
}

func (e *errorWriter) WriteHeader(code int) {
	if e.code != 0 {
		return
	}
	e.code = code
	if code < http.StatusBadRequest {
		e.ResponseWriter.WriteHeader(code)
		return
	}
	e.held = true
}

func (e *errorWriter) Write(b []byte) (int, error) {
	if e.code == 0 {
		e.WriteHeader(http.StatusOK)
	}
	if e.held {
		return e.buf.Write(b)
	}
	return e.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (e *errorWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }
