package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"time"
)

// kopecks marshals as roubles with exactly two decimals, so no float noise reaches the API.
type kopecks int64

func (k kopecks) MarshalJSON() ([]byte, error) {
	return fmt.Appendf(nil, "%d.%02d", k/100, k%100), nil
}

type position struct {
	Name     string  `json:"name"`
	Price    kopecks `json:"price"`
	Quantity int     `json:"quantity"`
	VATTag   int     `json:"vatTag"`
}

type payment struct {
	Type string  `json:"paymentType"`
	Sum  kopecks `json:"sum"`
}

type shopDoc struct {
	ID          string     `json:"id"`
	DocType     string     `json:"docType"`
	Checkout    string     `json:"checkoutDateTime"`
	Email       string     `json:"email"`
	Positions   []position `json:"inventPositions"`
	Payments    []payment  `json:"moneyPositions"`
	ResponseURL string     `json:"responseURL,omitempty"`
	// PrintReceipt asks for a paper receipt: the register signs it only when the
	// printer can print it.
	PrintReceipt bool `json:"printReceipt,omitempty"`
}

// receipt is what the shop expects a document to become.
type receipt struct {
	total, cash, card, prepaid int64
}

var vatTags = []int{1102, 1103, 1104, 1105}

// newDoc makes a valid sale (приход): 1–20 positions, paid by one to three of
// CARD, CASH and PREPAID whose sums add up to the total exactly.
func newDoc(rng *rand.Rand, id string) (shopDoc, receipt) {
	d := shopDoc{ID: id, DocType: "SALE", Checkout: time.Now().Format(time.RFC3339), Email: "buyer@example.com"}
	var r receipt
	for i := range 1 + rng.IntN(20) {
		p := position{Name: fmt.Sprintf("Товар %d", i+1), Price: kopecks(100 + rng.IntN(500000)),
			Quantity: 1 + rng.IntN(5), VATTag: vatTags[rng.IntN(len(vatTags))]}
		d.Positions = append(d.Positions, p)
		r.total += int64(p.Price) * int64(p.Quantity)
	}
	kinds := []string{"CARD", "CASH", "PREPAID"}
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	kinds = kinds[:1+rng.IntN(3)]
	left := r.total
	for i, k := range kinds {
		s := left
		if i < len(kinds)-1 {
			s = 1 + rng.Int64N(left-int64(len(kinds)-i-1))
		}
		left -= s
		d.Payments = append(d.Payments, payment{Type: k, Sum: kopecks(s)})
		switch k {
		case "CASH":
			r.cash += s
		case "CARD":
			r.card += s
		case "PREPAID":
			r.prepaid += s
		}
	}
	return d, r
}

// shop is the shop's side of the API with the sandbox's integration pair.
type shop struct {
	base, login, password string
	hc                    *http.Client
}

func newShop(base, login, password string) *shop {
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second}
	return &shop{base: base, login: login, password: password, hc: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

func (s *shop) do(method, path string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(method, s.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.SetBasicAuth(s.login, s.password)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// post sends a document once; it answers an error for anything but 200.
func (s *shop) post(d shopDoc) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	code, body, err := s.do("POST", "/api/fn/v2/doc", b)
	if err != nil {
		return fmt.Errorf("POST %s: %w", d.ID, err)
	}
	if code != http.StatusOK {
		return fmt.Errorf("POST %s: HTTP %d: %s", d.ID, code, bytes.TrimSpace(body))
	}
	return nil
}

func (s *shop) status(id string) (docStatus, error) {
	var st docStatus
	code, body, err := s.do("GET", "/api/fn/v1/doc/"+id+"/status", nil)
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("status of %s: HTTP %d: %s", id, code, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("status of %s: %w", id, err)
	}
	return st, nil
}

// requeue is PUT /api/fn/v1/doc/{id}/re-queue: a FAILED document back into the
// queue; it answers the document's new status.
func (s *shop) requeue(id string) (docStatus, error) {
	var st docStatus
	code, body, err := s.do("PUT", "/api/fn/v1/doc/"+id+"/re-queue", nil)
	if err != nil {
		return st, err
	}
	if code != http.StatusOK {
		return st, fmt.Errorf("re-queue of %s: HTTP %d: %s", id, code, bytes.TrimSpace(body))
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("re-queue of %s: %w", id, err)
	}
	return st, nil
}

// pointStatus is GET /api/fn/v1/status.
func (s *shop) pointStatus() (string, error) {
	code, body, err := s.do("GET", "/api/fn/v1/status", nil)
	if err != nil {
		return "", err
	}
	var v struct {
		Status  string `json:"status"`
		Message string `json:"message"`
	}
	if code != http.StatusOK || json.Unmarshal(body, &v) != nil {
		return "", fmt.Errorf("GET /api/fn/v1/status: HTTP %d: %s", code, bytes.TrimSpace(body))
	}
	if v.Message != "" {
		return v.Status + " (" + v.Message + ")", nil
	}
	return v.Status, nil
}

// waitCompleted polls a document's status every step until it is COMPLETED.
func (s *shop) waitCompleted(id string, step, limit time.Duration) (docStatus, error) {
	var st docStatus
	var err error
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(step) {
		st, err = s.status(id)
		if err != nil {
			continue
		}
		switch st.Status {
		case "COMPLETED":
			return st, nil
		case "FAILED":
			if st.FailureInfo != nil {
				return st, fmt.Errorf("%s FAILED (%s): %s", id, st.FailureInfo.Type, st.Message)
			}
			return st, fmt.Errorf("%s FAILED: %s", id, st.Message)
		}
	}
	if err != nil {
		return st, fmt.Errorf("%s not COMPLETED within %v: %w", id, limit, err)
	}
	return st, fmt.Errorf("%s not COMPLETED within %v: %s %s", id, limit, st.Status, st.Message)
}

// docStatus is the part of a DocumentStatus the driver uses.
type docStatus struct {
	Status      string `json:"status"`
	Message     string `json:"message"`
	FailureInfo *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"failureInfo"`
	FiscalInfo *struct {
		FNNumber    string  `json:"fnNumber"`
		FNDocNumber uint32  `json:"fnDocNumber"`
		FNDocMark   uint32  `json:"fnDocMark"`
		Sum         float64 `json:"sum"`
	} `json:"fiscalInfo"`
}
