package storage

import (
	"encoding/json"
	"time"

	"github.com/openkassa/kassa/device/cloud"
)

// Document is a shop document as the cloud keeps it. The JSON tags are the
// record's layout in the embedded store's file; other stores may map the
// fields as they like.
type Document struct {
	ID      string `json:"id"`
	PointID string `json:"pointId"`
	// Seq orders the point's queue: the next post or re-queue gets a larger
	// one. A re-queue gives the document a new Seq.
	Seq  uint64 `json:"seq"`
	Hash string `json:"hash"` // of the normalized body: a re-post with another hash is a conflict
	// Body is the Document, normalized, as posted. It never changes; reads
	// set it only where the method says so.
	Body        json.RawMessage `json:"-"`
	ResponseURL string          `json:"responseUrl,omitempty"`
	State       cloud.DocState  `json:"state"`
	Changed     time.Time       `json:"changed"`
	// LeasedUntil and LeaseOwner: while the document is PENDING, the lease's
	// end and the register (Register.ID) that holds it. LeaseOwner is empty
	// in records leased before owners were kept: such a lease is any
	// register's of the point.
	LeasedUntil time.Time          `json:"leasedUntil,omitzero"`
	LeaseOwner  string             `json:"leaseOwner,omitempty"`
	Leases      int                `json:"leases,omitempty"`   // how many times it was leased
	Requeued    bool               `json:"requeued,omitempty"` // re-queued by the shop; cleared by the next result
	FiscalInfo  *cloud.FiscalInfo  `json:"fiscalInfo,omitempty"`
	FailureInfo *cloud.FailureInfo `json:"failureInfo,omitempty"`
	Message     string             `json:"message,omitempty"`
	Created     time.Time          `json:"created,omitzero"`
	Fiscalized  time.Time          `json:"fiscalized,omitzero"` // when the register's result came
	// OFDDeliveredAt: when the cloud learned the OFD acknowledged it.
	OFDDeliveredAt   time.Time `json:"ofdDeliveredAt,omitzero"`
	CallbackAttempts int       `json:"callbackAttempts,omitempty"` // refused ones, plus one once accepted
	CallbackError    string    `json:"callbackError,omitempty"`    // the last refusal

	// Filled on reads, never stored as such.
	CallbackDue bool        `json:"-"` // its callback job exists (see CallbackJob)
	Kind        string      `json:"-"` // by ListDocuments only: see KindTotal
	Total       cloud.Money `json:"-"` // by ListDocuments only: see KindTotal
}

// Reported says whether the register's result is in: results after that
// change nothing.
func (d *Document) Reported() bool {
	switch d.State {
	case cloud.Printed, cloud.WaitForCallback, cloud.Completed, cloud.Failed:
		return true
	}
	return false
}

// Leasable says whether a lease may take the document now: it waits in the
// queue, or its lease has ended.
func (d *Document) Leasable(now time.Time) bool {
	return d.State == cloud.Queued || d.State == cloud.Requeued || d.State == cloud.Pending && !now.Before(d.LeasedUntil)
}

// FiscalizedAt is when the cloud learned of the receipt.
func (d *Document) FiscalizedAt() time.Time {
	if d.Fiscalized.IsZero() {
		return d.Changed
	}
	return d.Fiscalized
}

// CreatedAt is when the document was posted (Changed for records older than Created).
func (d *Document) CreatedAt() time.Time {
	if d.Created.IsZero() {
		return d.Changed
	}
	return d.Created
}

// KindTotal is the receipt's type and sum as the cabinet lists and filters
// them: the fiscalInfo's checkType and sum once fiscalized, before that the
// shop's docType and the sum of the body's moneyPositions (so it needs Body
// then; without it, "" and 0).
func KindTotal(d *Document) (string, cloud.Money) {
	if d.FiscalInfo != nil {
		return d.FiscalInfo.CheckType, d.FiscalInfo.Sum
	}
	var b struct {
		DocType        string                `json:"docType"`
		MoneyPositions []cloud.MoneyPosition `json:"moneyPositions"`
	}
	if json.Unmarshal(d.Body, &b) != nil {
		return "", 0
	}
	var t cloud.Money
	for _, m := range b.MoneyPositions {
		t += m.Sum
	}
	return b.DocType, t
}

// NewDocument is a shop's post.
type NewDocument struct {
	PointID, ID string
	Hash        string          // of Body; equal hashes mean the same document
	Body        json.RawMessage // normalized
	ResponseURL string
	Message     string    // the QUEUED document's message
	At          time.Time // Created and Changed
}

// LeaseRequest asks for documents of a point for its register.
type LeaseRequest struct {
	PointID string
	Owner   string // the register's Register.ID
	Max     int    // at most this many documents; at least 1
	Now     time.Time
	Until   time.Time // the leases' end
	// Resume: the register restarted and asks again for what it held. The
	// documents it holds leased (LeaseOwner == Owner or empty), expired or
	// not, are handed back with a new Until, beside the leasable ones.
	Resume bool
	// After, with Resume, is the id of the last document of the previous
	// page of a resume: the page goes on after it in queue order. An
	// unknown id starts from the beginning.
	After string
}

// Leased is a lease's answer.
type Leased struct {
	Documents []Document // with Body, in queue order (by Seq)
	// NextExpiry is the earliest end of the point's running leases the scan
	// passed over (zero: none): a long-poll may wake then, since the
	// document becomes leasable again.
	NextExpiry time.Time
}

// Reported is the outcome of Store.Report.
type Reported struct {
	Unknown []string   // ids of results with no document of the point
	Changed []Document // documents this report changed, as stored after it
}

// CallbackJob is a document's callback to its responseURL while it is due:
// made by the register's result, ended by SettleCallback. One node at a time
// holds it (Owner until Until) and delivers it.
type CallbackJob struct {
	PointID, ID string
	// Seq is the document's Seq when the job was made: a re-queued and
	// reported again document makes a new job, which an older holder must
	// not settle.
	Seq      uint64
	Due      time.Time // the next attempt not before
	Refusals int       // refused attempts so far
	Owner    string    // the node holding it; "" none
	Until    time.Time // the hold's end
}

// Refusal is one refused attempt of a callback.
type Refusal struct {
	Reason string    // becomes the document's CallbackError
	Next   time.Time // the job's new Due
	Hold   time.Time // the holder keeps the job until then
}

// Register is a register bound to a retail point.
type Register struct {
	// ID is the register's key: hex SHA-256 of its bearer token; the token
	// itself is never stored.
	ID       string        `json:"-"`
	PointID  string        `json:"pointId"`
	BoundAt  time.Time     `json:"boundAt"`
	LastSeen time.Time     `json:"lastSeen,omitzero"`
	Health   *cloud.Health `json:"health,omitempty"`
	// Resume: the owner asked for the stopped register to resume; the next
	// heartbeat that still says stopped carries it back.
	Resume bool `json:"resume,omitempty"`
	// Since: when the register last came back into contact or changed
	// between running and stopped.
	Since time.Time `json:"since,omitzero"`
}

// Heartbeat is a register's report of its health.
type Heartbeat struct {
	RegisterID string
	Health     cloud.Health
	At         time.Time     // by the cloud's clock
	Stale      time.Duration // a register silent longer than this comes back into contact
}

// Command is the last command the owner gave a point's register from the
// cabinet, and where it stands: one per point, a new one replaces the last.
type Command struct {
	cloud.Command
	Login    string                `json:"login"`             // who asked
	Asked    time.Time             `json:"asked"`             // by the cloud's clock
	Sent     time.Time             `json:"sent,omitzero"`     // in the answer to a heartbeat
	Answered time.Time             `json:"answered,omitzero"` // the heartbeat that brought the outcome
	Outcome  *cloud.CommandOutcome `json:"outcome,omitempty"`
}

// Account is a cabinet account; its password is kept as a bcrypt hash.
type Account struct {
	Login        string   `json:"-"`
	PasswordHash []byte   `json:"passwordHash"`
	Points       []string `json:"points"` // the points it owns, in the owner's order
}

// Point is a retail point with its owner's settings.
type Point struct {
	Point   cloud.Point `json:"point"`
	Account string      `json:"account"`
	// Settings: the owner's settings in Point have been made (by the sandbox,
	// the cabinet or an upgrade); a point without them takes the defaults once.
	Settings    bool   `json:"settings"`
	NotifyEmail string `json:"notifyEmail,omitempty"` // where alerts go by e-mail
	WebhookURL  string `json:"webhookUrl,omitempty"`  // where alerts go as JSON
}

// ShopLogin is an integration pair (HTTP Basic of the shop API) bound to one
// point. The password is kept as a salted SHA-256: it is random and long.
type ShopLogin struct {
	User     string `json:"-"`
	PointID  string `json:"pointId"`
	ClientID string `json:"clientId"`
	Salt     []byte `json:"salt"`
	Hash     []byte `json:"hash"`
}

// Session is a logged-in cabinet account, kept under the SHA-256 of its cookie.
type Session struct {
	Login   string    `json:"login"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// Sandbox is what var/sandbox.json needs to start posting to the sandbox cloud.
type Sandbox struct {
	Login           string         `json:"login"` // integration pair of the first point
	Password        string         `json:"password"`
	RetailPointID   string         `json:"retailPointId"` // the first point, served by the register
	CabinetLogin    string         `json:"cabinetLogin"`
	CabinetPassword string         `json:"cabinetPassword"`
	RetailPoints    []SandboxPoint `json:"retailPoints"`
	RegisterToken   string         `json:"registerToken"` // bearer token of the first point's register
}

// SandboxPoint is one retail point of the sandbox cabinet with its integration pair.
type SandboxPoint struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Login    string `json:"login"`
	Password string `json:"password"`
}

// SandboxSeed is everything a new sandbox makes at once.
type SandboxSeed struct {
	Sandbox  Sandbox
	Account  Account
	Points   []Point
	Logins   []ShopLogin
	Register Register
}

// Incident is an open alert of a point: one per (point, kind, document).
type Incident struct {
	PointID    string    `json:"-"`
	Kind       string    `json:"kind"`
	DocumentID string    `json:"documentId,omitempty"` // for alerts about one document
	Message    string    `json:"message"`
	Since      time.Time `json:"since"`
}

// Alert is one alert's message: an incident's opening or its all-clear.
type Alert struct {
	PointID    string    `json:"retailPointId"`
	PointName  string    `json:"retailPointName"`
	Kind       string    `json:"kind"`
	Open       bool      `json:"open"` // false: the all-clear
	Since      time.Time `json:"since"`
	At         time.Time `json:"at"`
	Title      string    `json:"title"`
	Message    string    `json:"message"`
	DocumentID string    `json:"documentId,omitempty"`
}

// AlertEntry is one alert on one channel to one address: the alert log's
// line and, until Done, the destination's outbox entry.
type AlertEntry struct {
	Seq      uint64    `json:"seq"` // the log's order; set by the store
	Alert    Alert     `json:"alert"`
	Channel  string    `json:"channel"` // "email" or "webhook"
	To       string    `json:"to"`
	Attempts int       `json:"attempts"`
	Sent     bool      `json:"sent"`
	Done     bool      `json:"done"` // no more attempts
	Error    string    `json:"error,omitempty"`
	Changed  time.Time `json:"changed"`
}

// DocQuery selects documents for the cabinet's list. Zero fields select all.
type DocQuery struct {
	// Points are the points to list, each with its own range of Created
	// (the owner's days are the point's own). At least one.
	Points []PointRange
	State  cloud.DocState
	Kind   string // KindTotal's kind, exactly
	// Text: the document's id contains it, ignoring case.
	Text     string
	Min, Max *cloud.Money // KindTotal's total, inclusive
	// UndeliveredBefore: fiscalized (FiscalInfo set) before it, by
	// FiscalizedAt, and not yet acknowledged by the OFD.
	UndeliveredBefore time.Time
	// After is the Cursor of the last document of the previous page; ""
	// starts from the newest.
	After string
	Limit int // documents per page; at least 1
}

// PointRange is one point of a DocQuery with its range of Created.
type PointRange struct {
	PointID  string
	From, To time.Time // From <= CreatedAt < To; zero: unbounded
}

// DocPage is a page of a list, newest first: by CreatedAt descending, then
// by PointID and ID descending, so the order is total.
type DocPage struct {
	Documents []Document // with CallbackDue, Kind and Total; Body not set
	// Next is the cursor for the next page; "" when this page is the last.
	// A cursor stays valid whatever is posted meanwhile: a page after it
	// holds only documents older in the order than its last one.
	Next string
}

// TotalsQuery selects a point's fiscalized documents to sum: by the fiscal
// date (FiscalInfo.Date in [From, To)), or, when Drive is set, by the shift
// (FiscalInfo.FNNumber == Drive and FiscalInfo.ShiftNumber == Shift).
type TotalsQuery struct {
	PointID  string
	From, To time.Time
	Drive    string
	Shift    int
}

// Totals sums the selected documents by their checkType, as the register
// named it (the cloud folds synonyms itself).
type Totals struct {
	Kinds []KindTotals // by Kind
}

// KindTotals is one checkType's documents.
type KindTotals struct {
	Kind     string
	Count    int
	Sum      cloud.Money            // FiscalInfo.Sum
	Payments map[string]cloud.Money // the bodies' moneyPositions summed by paymentType
}
