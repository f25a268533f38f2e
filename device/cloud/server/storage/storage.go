// Package storage is the cloud server's persistence seam: the one interface,
// Store, through which the server keeps everything that matters beyond one
// request (documents and their queue, leases, results, callbacks, OFD
// delivery marks, registers and their commands, credentials, points,
// sessions, alerts), and the records it keeps them as.
//
// The interface is shaped by what the cloud does, not by a database: each
// method is one step of the cloud's work and is atomic on its own, so that
// any number of server processes may share one store (see the PostgreSQL
// implementation) or one process may own an embedded file (boltstore). The
// package holds no implementation beyond small helpers; storagetest checks
// an implementation against the contracts written here.
//
// Times are stored as given, to the millisecond at least; the server passes
// its clock's time in, so no method reads a clock of its own.
package storage

import (
	"context"
	"errors"
	"time"

	"github.com/openkassa/kassa/device/cloud"
)

// Errors callers act on; implementations wrap them with %w.
var (
	// ErrNotFound: the record asked for does not exist.
	ErrNotFound = errors.New("storage: not found")
	// ErrConflict: the stored state does not allow the change (a re-post of
	// an id with other content, a re-queue of a document that is not
	// FAILED, a sandbox made twice, a password changed meanwhile, an
	// account or point created twice).
	ErrConflict = errors.New("storage: conflict")
	// ErrNoSpace: the store's disk (or its quota) is full, so the change
	// was not made; reads may still work, and writes work again once space
	// is freed. The error wraps the store's own as well: the file's
	// syscall.ENOSPC or EDQUOT where bbolt kept it, PostgreSQL's
	// *pgconn.PgError (SQLSTATE 53100).
	ErrNoSpace = errors.New("storage: no space left")
)

// Store is the cloud's storage. Every method is safe for concurrent use, is
// atomic (it happens whole or not at all), and is durable when it returns
// nil. ctx bounds the call; a cancelled ctx may leave it undone, never half
// done. Errors other than the sentinels above are the store's own failures
// (a lost connection, a damaged file) and say what failed; a full disk is
// ErrNoSpace.
type Store interface {
	Documents
	Callbacks
	Registers
	Accounts
	Alerts
	Notifier

	// Ping returns nil when the store can serve calls now (the embedded
	// store: its file is open; a database: it answered a round trip), for
	// the cloud's readiness check; else why not. After Close it fails.
	Ping(ctx context.Context) error

	// Close releases the store; calls after it fail.
	Close() error
}

// Documents: the shops' documents, their queue, leases and results.
type Documents interface {
	// PostDocument makes the document QUEUED at the back of its point's
	// queue, unless the point already has a document with the id: then
	// nothing changes and the existing one is returned, with created false;
	// if its Hash differs from d.Hash the error is ErrConflict (with the
	// existing document). Any number of concurrent posts of one (point, id)
	// make one document. A created document wakes the point's waiters.
	PostDocument(ctx context.Context, d NewDocument) (doc Document, created bool, err error)

	// Document returns the point's document (Body not set) with CallbackDue;
	// ErrNotFound when the point has none with the id.
	Document(ctx context.Context, pointID, id string) (Document, error)

	// DocumentBody returns the document's Body as posted; ErrNotFound as Document.
	DocumentBody(ctx context.Context, pointID, id string) ([]byte, error)

	// Lease hands documents of r.PointID to the register r.Owner, in queue
	// order (Seq), at most r.Max: QUEUED and REQUEUED ones, PENDING ones whose
	// lease has ended (Until <= r.Now), and with r.Resume the PENDING ones
	// this register holds (see LeaseRequest). Each one handed becomes
	// PENDING with LeasedUntil r.Until, LeaseOwner r.Owner and Leases+1 (a
	// QUEUED or REQUEUED one also gets Changed r.Now and the message
	// takenMessage; a re-leased one keeps its state's other fields). Two
	// concurrent leases of a point never hand out the same document unless
	// its lease ended in between. Documents come with Body.
	Lease(ctx context.Context, r LeaseRequest, takenMessage string) (Leased, error)

	// Report records the register's results for documents of the point, at
	// once. For each id in order: with no document of the point it goes to
	// Unknown; a document already reported (Document.Reported) is left as
	// it is, so results are idempotent; otherwise apply(i, &doc) sets the
	// fields the i-th result changes (State to a reported state, FiscalInfo
	// or FailureInfo, Message, Changed, Fiscalized), and then the store:
	// takes the document out of the queue and clears its lease; when it has
	// FiscalInfo with FNNumber and FNDocNumber > 0, files it as not yet
	// acknowledged by the OFD (see MarkDelivered), unless the point's
	// register's last heartbeat already acknowledged it (its Health's drive
	// number is FNNumber and OFDAckedThrough >= FNDocNumber): then its
	// OFDDeliveredAt becomes at; and when it has a ResponseURL, makes its
	// callback job due at `at` (a job that exists keeps its Refusals). apply
	// may be called more than once for a result (a retried transaction) and
	// must only set fields from its result.
	Report(ctx context.Context, pointID string, ids []string, at time.Time, apply func(i int, d *Document)) (Reported, error)

	// Requeue puts a FAILED document at the back of the queue as REQUEUED
	// (new Seq, Requeued true, FailureInfo, FiscalInfo and lease cleared,
	// Changed at, Message message) and drops its callback job; it wakes the
	// point's waiters. A REQUEUED document is returned as it is. Any other
	// state: ErrConflict, with the document. ErrNotFound as Document.
	Requeue(ctx context.Context, pointID, id string, at time.Time, message string) (Document, error)

	// MarkDelivered stamps OFDDeliveredAt = at on the point's documents of
	// the drive numbered 1..through that await the OFD's acknowledgement,
	// and files them as acknowledged; it returns how many it filed. The
	// drive sends in order, so an acknowledgement covers every earlier
	// document; a new drive numbers from 1 again, hence the drive. An empty
	// drive or through 0 does nothing.
	MarkDelivered(ctx context.Context, pointID, drive string, through uint32, at time.Time) (int, error)

	// ListDocuments returns a page of the documents q selects, newest first
	// (see DocPage). Paging with Next returns every document that existed
	// when the first page was read exactly once, whatever is posted meanwhile.
	ListDocuments(ctx context.Context, q DocQuery) (DocPage, error)

	// Totals sums the point's fiscalized documents q selects.
	Totals(ctx context.Context, q TotalsQuery) (Totals, error)
}

// Callbacks: the documents' callbacks to their shops, as durable jobs. A job
// is made by Report and ended by SettleCallback or by Requeue; while it
// exists the document's CallbackDue is true.
type Callbacks interface {
	// TakeCallbacks gives node up to max jobs with Due <= dueBy that no node
	// holds (Owner "" or Until <= now), and holds them for node until
	// `until`, oldest Due first. Two concurrent takers never get one job.
	TakeCallbacks(ctx context.Context, node string, dueBy, now, until time.Time, max int) ([]CallbackJob, error)

	// CallbackDocument returns the job's document (with Body not set) while
	// the job is the one given (same point, id and Seq); ErrNotFound when it
	// was settled, dropped or made anew.
	CallbackDocument(ctx context.Context, job CallbackJob) (Document, error)

	// RefuseCallback records a refused attempt of the job: the document's
	// CallbackAttempts grows by one and CallbackError becomes r.Reason, the
	// job's Refusals becomes CallbackAttempts, Due r.Next and Until r.Hold;
	// then apply (if not nil) sets the document's other fields. It returns
	// the document as stored. ErrNotFound as CallbackDocument: nothing is
	// recorded then. apply may run more than once.
	RefuseCallback(ctx context.Context, job CallbackJob, r Refusal, apply func(d *Document)) (Document, error)

	// SettleCallback ends the job: accepted, the document's
	// CallbackAttempts grows by one and CallbackError clears; then apply (if
	// not nil) sets its other fields, and the job is gone. It returns the
	// job's Refusals as they were. ErrNotFound as CallbackDocument: nothing
	// changes then. apply may run more than once.
	SettleCallback(ctx context.Context, job CallbackJob, accepted bool, apply func(d *Document)) (refusals int, err error)

	// RefusedCallbacks returns the point's documents whose callback job
	// exists with at least n refusals, in id order.
	RefusedCallbacks(ctx context.Context, pointID string, n int) ([]Document, error)
}

// Registers: the registers, their heartbeats and the owner's commands to them.
type Registers interface {
	// BindRegister stores a register for its point (a point has one: a new
	// one replaces the point's last, whose token stops working).
	BindRegister(ctx context.Context, r Register) error

	// Register returns the register by its ID; ErrNotFound.
	Register(ctx context.Context, id string) (Register, error)

	// PointRegister returns the point's register; ErrNotFound when none serves it.
	PointRegister(ctx context.Context, pointID string) (Register, error)

	// RecordHeartbeat stores the register's health with LastSeen h.At. Since
	// becomes h.At when the register had no health yet, was silent longer
	// than h.Stale, or changed between stopped and running. It returns the
	// register as stored and whether to tell it to resume: the owner's
	// Resume goes out once, to a register still stopped, and is cleared
	// either way. ErrNotFound for an unknown register.
	RecordHeartbeat(ctx context.Context, h Heartbeat) (reg Register, resume bool, err error)

	// AskResume sets the point's register's Resume if its last health says
	// stopped, and reports whether it did. ErrNotFound when no register
	// serves the point.
	AskResume(ctx context.Context, pointID string) (bool, error)

	// PutCommand stores the point's command, replacing the last one.
	// ErrNotFound when no register serves the point.
	PutCommand(ctx context.Context, pointID string, c Command) error

	// Command returns the point's last command; ErrNotFound when none.
	Command(ctx context.Context, pointID string) (Command, error)

	// ExchangeCommand, for a heartbeat, takes the register's outcome and
	// returns the command to send, once: if the point's command has no
	// outcome yet and got answers it (same ID), Outcome becomes got and
	// Answered at; else if it was never sent, Sent becomes at and it is
	// returned; else nil. No command: nil.
	ExchangeCommand(ctx context.Context, pointID string, got *cloud.CommandOutcome, at time.Time) (*cloud.Command, error)
}

// Accounts: the cabinet's accounts and sessions, the points and the shops'
// integration pairs, and the sandbox.
type Accounts interface {
	// Account returns the cabinet account; ErrNotFound.
	Account(ctx context.Context, login string) (Account, error)
	// PutAccount stores the account under a.Login, replacing it.
	PutAccount(ctx context.Context, a Account) error
	// CreateAccount stores a new account under a.Login (not empty), as
	// given. ErrConflict if an account with the login exists: nothing
	// changes then. Of concurrent creates of one login exactly one
	// succeeds; the others get ErrConflict.
	CreateAccount(ctx context.Context, a Account) error
	// SetPasswordHash replaces the account's hash if it is still old;
	// ErrConflict if it changed meanwhile, ErrNotFound with no account.
	SetPasswordHash(ctx context.Context, login string, old, new []byte) error

	// Point returns the point; ErrNotFound.
	Point(ctx context.Context, id string) (Point, error)
	// PutPoint stores the point under p.Point.ID, replacing it.
	PutPoint(ctx context.Context, p Point) error
	// CreatePoint stores a new point under p.Point.ID (not empty) and, in
	// the same step, appends the id to the Points of its account
	// (p.Account), unless they list it already. ErrNotFound when no account
	// p.Account exists; else ErrConflict when a point with the id exists
	// (of any account): nothing changes then. Concurrent creates of points
	// of one account all land in its Points, each id once, in the order
	// the store made them; of concurrent creates of one id exactly one
	// succeeds.
	CreatePoint(ctx context.Context, p Point) error
	// PointIDs lists every point's id, in id order.
	PointIDs(ctx context.Context) ([]string, error)

	// ShopLogin returns the integration pair; ErrNotFound.
	ShopLogin(ctx context.Context, user string) (ShopLogin, error)
	// IssueShopLogin stores a new password (l.Salt, l.Hash) for the pair of
	// (l.PointID, l.ClientID) and returns its user name: the pair's existing
	// one, or l.User when the pair is new or fresh is set (the old user name
	// then stops working at once).
	IssueShopLogin(ctx context.Context, l ShopLogin, fresh bool) (string, error)
	// RevokeShopLogin deletes the pair; an unknown user is not an error.
	RevokeShopLogin(ctx context.Context, user string) error

	// PutSession stores the session under key (the cookie's hash).
	PutSession(ctx context.Context, key string, s Session) error
	// Session returns the session; ErrNotFound, also once it expired by now.
	Session(ctx context.Context, key string, now time.Time) (Session, error)
	// DeleteSession deletes it; an unknown key is not an error.
	DeleteSession(ctx context.Context, key string) error
	// DropSessions deletes the sessions expired by now.
	DropSessions(ctx context.Context, now time.Time) error

	// Sandbox returns the sandbox; ErrNotFound before CreateSandbox.
	Sandbox(ctx context.Context) (Sandbox, error)
	// CreateSandbox stores everything of a new sandbox at once: its account,
	// points, integration pairs (IssueShopLogin as new) and register.
	// ErrConflict if a sandbox exists: nothing changes then.
	CreateSandbox(ctx context.Context, s SandboxSeed) error
}

// Alerts: the points' open incidents, and the alert log, whose entries not
// yet Done are the outbox of their destination (channel and address).
type Alerts interface {
	// Incidents returns the point's open incidents, by kind and then document.
	Incidents(ctx context.Context, pointID string) ([]Incident, error)

	// OpenIncident opens the incident unless one of its (point, kind,
	// document) is open, and then appends alerts to the log (each gets its
	// Seq) in the same step; it reports whether it opened it. Concurrent
	// calls open one incident once.
	OpenIncident(ctx context.Context, in Incident, alerts []AlertEntry) (bool, error)

	// CloseIncident closes the open incident of in's (point, kind, document)
	// and appends alerts as OpenIncident does; false when none was open.
	CloseIncident(ctx context.Context, in Incident, alerts []AlertEntry) (bool, error)

	// ReleaseHolds lets go of every callback job and alert destination that
	// node holds, at once rather than when their holds end: a node shutting
	// down hands its work to the others. Jobs and entries keep their Due and
	// order; what another node holds is left alone.
	ReleaseHolds(ctx context.Context, node string) error

	// ClaimAlert returns the oldest entry not Done of a destination and
	// holds the destination for node until `until`: of (channel, to), if
	// channel is not ""; else of any destination no node holds (no hold, or
	// its Until <= now). The holder of a destination gets its next entry by
	// asking for it by name; another node's live hold is skipped. With none
	// to give: ErrNotFound, and a named destination's hold by node is let go.
	// A destination's entries go out in Seq order, one holder at a time.
	ClaimAlert(ctx context.Context, node, channel, to string, now, until time.Time) (AlertEntry, error)

	// SaveAlert stores the entry's attempts and outcome under its Seq; a
	// Done entry leaves its destination's outbox. ErrNotFound for a Seq not
	// in the log.
	SaveAlert(ctx context.Context, e AlertEntry) error

	// AlertLog returns up to limit newest entries of the given points, newest first.
	AlertLog(ctx context.Context, points []string, limit int) ([]AlertEntry, error)
}

// Notifier wakes the long-polls of a point. The embedded store's works in
// process; a store shared by processes also wakes the other processes'
// waiters (PostgreSQL's LISTEN/NOTIFY).
type Notifier interface {
	// Wait returns a channel closed at the next Notify of the point (and
	// so at the next post or re-queue to it). Take it before looking at
	// the queue, so that no post in between is missed.
	Wait(pointID string) <-chan struct{}
	// Notify wakes the point's waiters.
	Notify(ctx context.Context, pointID string) error
}
