package cloud

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrUnauthorized is the cloud refusing the register's token: retrying will not help
// until the register is bound again.
var ErrUnauthorized = errors.New("cloud: register token refused")

// StatusError is an answer other than success from the cloud.
type StatusError struct {
	Code    int
	Message string
	Field   string
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("cloud: HTTP %d", e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Field != "" {
		s += " (field " + e.Field + ")"
	}
	return s
}

// Client is the register's end of the register API.
type Client struct {
	base  string
	token string
	hc    *http.Client
}

// NewClient talks to the cloud at baseURL (e.g. http://127.0.0.1:8780) with the
// register's bearer token. hc's Timeout, if set, must exceed the long-poll wait;
// nil means a client without a timeout, the calls being bounded by their contexts.
func NewClient(baseURL, token string, hc *http.Client) *Client {
	if hc == nil {
		hc = &http.Client{}
	}
	return &Client{base: strings.TrimRight(baseURL, "/"), token: token, hc: hc}
}

// Point returns the seller data of the register's retail point.
func (c *Client) Point(ctx context.Context) (Point, error) {
	var p Point
	err := c.do(ctx, http.MethodGet, "/api/device/v1/point", nil, &p)
	return p, err
}

// Lease takes up to max documents, waiting up to wait for the first (0: answer at once).
// The cloud gives a lease not reported in time to this register again, with the same id.
func (c *Client) Lease(ctx context.Context, wait time.Duration, max int) ([]Lease, error) {
	return c.lease(ctx, wait, max, false, "")
}

// Resume is Lease after a start: the cloud also hands back, at once, the
// documents this register had leased and not yet reported (a register that
// restarts takes them again instead of letting them wait out their lease),
// those queued after the document after when it is not "" (the next page).
func (c *Client) Resume(ctx context.Context, wait time.Duration, max int, after string) ([]Lease, error) {
	return c.lease(ctx, wait, max, true, after)
}

func (c *Client) lease(ctx context.Context, wait time.Duration, max int, resume bool, after string) ([]Lease, error) {
	q := url.Values{}
	q.Set("wait", wait.String())
	q.Set("max", strconv.Itoa(max))
	if resume {
		q.Set("resume", "1")
		if after != "" {
			q.Set("after", after)
		}
	}
	var out LeaseResponse
	if err := c.do(ctx, http.MethodPost, "/api/device/v1/lease?"+q.Encode(), nil, &out); err != nil {
		return nil, err
	}
	return out.Documents, nil
}

// Report posts results; the cloud accepts a result it already has and changes nothing.
func (c *Client) Report(ctx context.Context, results []Result) error {
	return c.do(ctx, http.MethodPost, "/api/device/v1/results", ResultsRequest{Results: results}, nil)
}

// Heartbeat posts the register's health, from which the cloud derives its status,
// and drops the cloud's answer; SendHeartbeat returns it.
func (c *Client) Heartbeat(ctx context.Context, h Health) error {
	_, err := c.SendHeartbeat(ctx, h)
	return err
}

// SendHeartbeat posts the register's health and returns the cloud's answer: with
// Resume set, the owner asked the stopped register to take documents again. The
// cloud says so once.
func (c *Client) SendHeartbeat(ctx context.Context, h Health) (HeartbeatResponse, error) {
	var out HeartbeatResponse
	err := c.do(ctx, http.MethodPost, "/api/device/v1/heartbeat", h, &out)
	return out, err
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("cloud: encode %s: %w", path, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("cloud: %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("cloud: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("cloud: %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%w: %s %s: HTTP %d", ErrUnauthorized, method, path, resp.StatusCode)
	}
	if resp.StatusCode/100 != 2 {
		se := &StatusError{Code: resp.StatusCode}
		var ae APIError
		if json.Unmarshal(data, &ae) == nil {
			se.Message, se.Field = ae.Message, ae.Field
		}
		return fmt.Errorf("cloud: %s %s: %w", method, path, se)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("cloud: %s %s: decoding the answer: %w", method, path, err)
		}
	}
	return nil
}
