package sim

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// LookupHandler serves GET /receipt?fn=…&i=…&fp=… — the QR code's drive number,
// FD and printed ФПД — with the stored document as JSON. A document that is
// absent, or whose ФПД is not fp, is 404: the look-up never tells a wrong sign
// from a missing document.
func (s *Server) LookupHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /receipt", s.lookup)
	return mux
}

// LookupResult is the look-up's JSON answer.
type LookupResult struct {
	DriveNumber string     `json:"fn"`
	FD          uint32     `json:"fd"`
	FPD         uint32     `json:"fp"`
	Type        fiscal.Tag `json:"type"`
	Received    int        `json:"received"`
	ReceivedAt  time.Time  `json:"receivedAt"`
	Elements    []Element  `json:"document"`
}

// Element is one decoded tag of a document. Value is a number, a string, a
// date-time (the register's wall clock, no zone), nested elements, or hex
// for bytes and tags the registry does not know.
type Element struct {
	Tag   fiscal.Tag `json:"tag"`
	Name  string     `json:"name,omitempty"`
	Value any        `json:"value"`
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	drive := q.Get("fn")
	fd, err1 := strconv.ParseUint(q.Get("i"), 10, 32)
	fp, err2 := strconv.ParseUint(q.Get("fp"), 10, 32)
	if len(drive) != 16 || err1 != nil || err2 != nil {
		http.Error(w, "want fn (16 digits), i (FD) and fp (ФПД) as in the receipt's QR code", http.StatusBadRequest)
		return
	}
	d, ok, err := s.Document(drive, uint32(fd))
	if err != nil {
		s.log.Error("look-up", "err", err)
		http.Error(w, "store error", http.StatusInternalServerError)
		return
	}
	if !ok || uint64(d.FPD) != fp {
		http.NotFound(w, r)
		return
	}
	doc, _, err := fiscal.NextElement(d.TLV, 0)
	if err != nil {
		s.log.Error("look-up: stored document does not parse", "fn", drive, "fd", fd, "err", err)
		http.Error(w, "stored document does not parse", http.StatusInternalServerError)
		return
	}
	els, err := decodeElements(doc.Value)
	if err != nil {
		s.log.Error("look-up: stored document does not parse", "fn", drive, "fd", fd, "err", err)
		http.Error(w, "stored document does not parse", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(LookupResult{
		DriveNumber: d.DriveNumber, FD: d.FD, FPD: d.FPD, Type: d.Type,
		Received: d.Received, ReceivedAt: d.FirstAt, Elements: els,
	})
}

// decodeElements renders a run of elements by the types fiscal's tag registry gives them.
func decodeElements(b []byte) ([]Element, error) {
	raw, err := fiscal.SplitElements(b)
	if err != nil {
		return nil, err
	}
	out := make([]Element, 0, len(raw))
	for _, e := range raw {
		el := Element{Tag: e.Tag, Value: hex.EncodeToString(e.Value)}
		info, ok := fiscal.LookupTag(e.Tag)
		if ok {
			el.Name = info.Name
			if v, err := decodeValue(info.Type, e.Value); err == nil {
				el.Value = v
			} else if info.Type == fiscal.TypeSTLV {
				return nil, fmt.Errorf("tag %d at offset %d: %w", e.Tag, e.Offset, err)
			}
		}
		out = append(out, el)
	}
	return out, nil
}

func decodeValue(t fiscal.DataType, v []byte) (any, error) {
	switch t {
	case fiscal.TypeByte, fiscal.TypeUint16, fiscal.TypeUint32, fiscal.TypeVLN:
		return fiscal.VLN(v)
	case fiscal.TypeFVLN:
		if len(v) < 2 {
			return nil, fmt.Errorf("FVLN of %d bytes", len(v))
		}
		n, err := fiscal.VLN(v[1:])
		if err != nil {
			return nil, err
		}
		return json.Number(fixed(n, v[0])), nil
	case fiscal.TypeString:
		return fiscal.DecodeString(v), nil
	case fiscal.TypeTime:
		if len(v) != 4 {
			return nil, fmt.Errorf("unixtime of %d bytes", len(v))
		}
		sec := int64(v[0]) | int64(v[1])<<8 | int64(v[2])<<16 | int64(v[3])<<24
		return time.Unix(sec, 0).UTC().Format("2006-01-02T15:04:05"), nil
	case fiscal.TypeSTLV:
		return decodeElements(v)
	}
	return nil, fmt.Errorf("kept as hex: type %s", t)
}

// fixed writes n with d decimals: 1500, 3 → "1.500".
func fixed(n uint64, d byte) string {
	s := strconv.FormatUint(n, 10)
	if d == 0 {
		return s
	}
	for len(s) <= int(d) {
		s = "0" + s
	}
	return s[:len(s)-int(d)] + "." + s[len(s)-int(d):]
}

// maxLookupConns bounds the look-up's connections at once; more are closed as they come.
const maxLookupConns = 256

// LookupServer is an http.Server for LookupHandler whose timeouts and
// connection cap keep a client that trickles its request, or opens
// connections by the hundred, from holding goroutines and files.
func (s *Server) LookupServer() *http.Server {
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	return &http.Server{Handler: s.LookupHandler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 15 * time.Second,
		WriteTimeout: 15 * time.Second, IdleTimeout: 60 * time.Second, MaxHeaderBytes: 16 << 10,
		ConnState: func(c net.Conn, st http.ConnState) {
			mu.Lock()
			defer mu.Unlock()
			switch st {
			case http.StateNew:
				if len(open) >= maxLookupConns {
					c.Close()
					return
				}
				open[c] = true
			case http.StateHijacked, http.StateClosed:
				delete(open, c)
			}
		}}
}
