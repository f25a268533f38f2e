package cloud

import (
	"encoding/json"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// DocState is where a shop document stands (the vendor's DocumentStatus.status).
type DocState string

// Document states. PRINTED, WAIT_FOR_CALLBACK and COMPLETED all mean success to the shop.
const (
	Queued          DocState = "QUEUED"
	Pending         DocState = "PENDING" // leased by the register
	Printed         DocState = "PRINTED" // fiscalized, callback not yet attempted
	WaitForCallback DocState = "WAIT_FOR_CALLBACK"
	Completed       DocState = "COMPLETED"
	Failed          DocState = "FAILED"
	Requeued        DocState = "REQUEUED"
)

// RegisterState is the retail point's register as the shop sees it (status and fnState).
type RegisterState string

// Register states.
const (
	Ready      RegisterState = "READY"      // heartbeats fresh, not stopped
	Associated RegisterState = "ASSOCIATED" // bound, never reported in
	RegFailed  RegisterState = "FAILED"     // stopped, or no contact for too long
	Disabled   RegisterState = "DISABLED"   // no register serves the point
)

// Failure types of failureInfo.type.
const (
	FailureFNMemoryOverflow = "FN_MEMORY_OVERFLOW"
	FailureFNExpired        = "FN_EXPIRED"
	FailureFNGeneric        = "FN_GENERIC_FAILURE"
	FailureNonFN            = "NON_FN_FAILURE"
)

// FiscalInfo is what the shop learns of a fiscalized document; the names are the vendor's.
type FiscalInfo struct {
	ShiftNumber           int       `json:"shiftNumber"`
	CheckNumber           int       `json:"checkNumber"`           // 1042
	KKTNumber             string    `json:"kktNumber"`             // 1013
	FNNumber              string    `json:"fnNumber"`              // 1041
	FNDocNumber           int       `json:"fnDocNumber"`           // 1040
	FNDocMark             int64     `json:"fnDocMark"`             // the printed ФПД
	Date                  time.Time `json:"date"`                  // 1012
	Sum                   Money     `json:"sum"`                   // 1020, roubles on the wire
	CheckType             string    `json:"checkType"`             // SALE, RETURN, PURCHASE, …
	QR                    string    `json:"qr"`                    // the receipt's QR text
	ECRRegistrationNumber string    `json:"ecrRegistrationNumber"` // 1037
}

// FailureInfo says why a document was not fiscalized.
type FailureInfo struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// DocumentStatus is the vendor's answer to every document call and the body of callbacks.
type DocumentStatus struct {
	ID                string        `json:"id,omitempty"` // set in callbacks only
	Status            DocState      `json:"status"`
	FNState           RegisterState `json:"fnState"`
	FiscalInfo        *FiscalInfo   `json:"fiscalInfo"`
	FailureInfo       *FailureInfo  `json:"failureInfo"`
	Message           string        `json:"message"`
	TimeStatusChanged time.Time     `json:"timeStatusChanged"`
	// OFDDelivered and OFDDeliveredAt are our extension: the OFD has acknowledged
	// the fiscal document, as of the first heartbeat that showed it.
	OFDDelivered   bool      `json:"ofdDelivered"`
	OFDDeliveredAt time.Time `json:"ofdDeliveredAt,omitzero"`
}

// PointStatus is the answer of GET /api/fn/v1/status.
type PointStatus struct {
	Status   RegisterState `json:"status"`
	DateTime time.Time     `json:"dateTime"`
	Message  string        `json:"message,omitempty"` // the reason when not READY (our addition)
}

// Association is the answer of POST /api/fn/v1/associate/{retailPointId}.
type Association struct {
	UserName string `json:"userName"`
	Password string `json:"password"`
	Name     string `json:"name"`
	Address  string `json:"address"`
}

// Point is a retail point's seller data: what the register puts into every receipt.
type Point struct {
	ID         string           `json:"id"`
	Name       string           `json:"name"`       // 1048
	INN        string           `json:"inn"`        // 1018
	TaxSystems fiscal.TaxSystem `json:"taxSystems"` // 1062 bitmask
	Address    string           `json:"address"`    // 1009
	Place      string           `json:"place"`      // 1187, the shop's site
	Email      string           `json:"email"`      // 1117
	RegNumber  string           `json:"regNumber,omitempty"`

	// The owner's settings, kept in the cabinet.
	OFD           OFD  `json:"ofd"`           // 1046, 1017 and the receipt-check site
	ShopDocuments bool `json:"shopDocuments"` // the point takes online-shop documents
	// StopOnErrors: failing documents stop the taking of documents (the stop policy).
	// Off is remote-fiscalization mode, RemoteMode, where failed documents may be sent again.
	StopOnErrors bool `json:"stopOnErrors"`
	RemoteMode   bool `json:"remoteMode"`    // !StopOnErrors, for the register's convenience
	CarryBalance bool `json:"carryBalances"` // balances carry to the next shift; forced on with ShopDocuments
	Offline      bool `json:"offline"`       // the register works offline (autonomous mode)
	// KeepVAT20: vatTag 1102 and 1106 stay 20 % and 20/120 after 2025 as well
	// (the shop sends 1113/1114 for 22 %). Off, the default, they follow the
	// operation's date: see Document.Standard22.
	KeepVAT20 bool `json:"keepVat20,omitempty"`

	// The register's registration flags, written into its registration report
	// (FFD 1.05; Registration builds it). Automatic mode (1001) needs the
	// automatic device's number (1036); receipts carry both.
	Automatic        bool   `json:"automatic,omitempty"`        // 1001
	MachineNumber    string `json:"machineNumber,omitempty"`    // 1036
	Encryption       bool   `json:"encryption,omitempty"`       // 1056
	Services         bool   `json:"services,omitempty"`         // 1109 services only
	BSO              bool   `json:"bso,omitempty"`              // 1110 strict-reporting forms
	PrinterInMachine bool   `json:"printerInMachine,omitempty"` // 1221
	Excise           bool   `json:"excise,omitempty"`           // 1207
	Gambling         bool   `json:"gambling,omitempty"`         // 1193
	Lottery          bool   `json:"lottery,omitempty"`          // 1126
	AgentFlags       byte   `json:"agentFlags,omitempty"`       // 1057, a bit per agent type as in agentInfo
	// Cashier is who registers the register (1021 of the registration reports);
	// empty: DefaultRegistrar.
	Cashier string `json:"cashier,omitempty"`
	// TimeZone is the point's IANA zone (one of Russia's, see zones); the
	// cabinet shows the point's times and counts its days there. Empty: Moscow.
	TimeZone string `json:"timeZone,omitempty"`
}

// DefaultRegistrar is 1021 of a registration report when the point names nobody.
const DefaultRegistrar = "Администратор"

// Registration is the registration report's data of the point's register:
// the seller and the flags from the point's settings, the OFD the owner chose
// (an autonomous register has none), the register's serial, version and
// HasAgent says whether the point registers its register as the agent type name.
func (p Point) HasAgent(name string) bool { return p.AgentFlags&AgentTypes[name] != 0 }

// registration number. Validate it before use.
func (p Point) Registration(serial, version, regNumber string) fiscal.Registration {
	g := fiscal.Registration{
		Seller: fiscal.Seller{Name: p.Name, INN: p.INN, Address: p.Address, Place: p.Place, TaxSystems: p.TaxSystems,
			RegNumber: regNumber, Email: p.Email, Internet: p.ShopDocuments && !p.Offline,
			Automatic: p.Automatic, Machine: p.MachineNumber},
		Serial: serial, Version: version, RegisterFFD: fiscal.FFD105, DriveFFD: fiscal.FFD105,
		Autonomous: p.Offline, Encryption: p.Encryption, Services: p.Services, BSO: p.BSO,
		Printer: p.PrinterInMachine, Excise: p.Excise, Gambling: p.Gambling, Lottery: p.Lottery,
		AgentFlags: p.AgentFlags, Cashier: p.Cashier,
	}
	if g.Cashier == "" {
		g.Cashier = DefaultRegistrar
	}
	if !p.Offline {
		g.OFDName, g.OFDINN = p.OFD.Name, p.OFD.INN
	}
	return g
}

// OFD is a fiscal data operator as the cabinet offers it.
type OFD struct {
	Name string `json:"name"` // 1046
	INN  string `json:"inn"`  // 1017
	Site string `json:"site"` // where a buyer checks a receipt
}

// HeartbeatResponse is the answer of POST /api/device/v1/heartbeat.
type HeartbeatResponse struct {
	// Resume: the owner asked, in the cabinet, that the stopped register take documents again.
	Resume bool `json:"resume"`
	// Command: the owner asked, in the cabinet, for a report. It comes once;
	// the register answers in the Command of its next heartbeats.
	Command *Command `json:"command,omitempty"`
}

// The commands an owner gives the register from the cabinet.
const (
	CommandXReport    = "x-report"    // print the X report, send back its totals
	CommandCloseShift = "close-shift" // close the shift (the Z report): irreversible
)

// Command is an order from the cabinet to the register.
type Command struct {
	ID   string `json:"id"`
	Kind string `json:"kind"` // CommandXReport or CommandCloseShift
}

// CommandOutcome is the register's answer to the last Command it ran; its
// heartbeats carry it until another command replaces it.
type CommandOutcome struct {
	ID    string    `json:"id"`
	Kind  string    `json:"kind"`
	At    time.Time `json:"at"`              // when the register ran it, by its clock
	Error string    `json:"error,omitempty"` // not done, and why
	// PrintError: done, but the report was not printed.
	PrintError string `json:"printError,omitempty"`
	FD         uint32 `json:"fd,omitempty"` // the shift-close report's fiscal document number
	// Totals are the shift's counters: as of the X report, or of the shift
	// just closed.
	Totals *ShiftTotals `json:"totals,omitempty"`
}

// ShiftTotals are a shift's counters as the register keeps them.
type ShiftTotals struct {
	Shift         uint32    `json:"shift"`
	Open          bool      `json:"open"`
	OpenedAt      time.Time `json:"openedAt,omitzero"`
	Income        OpTotals  `json:"income"`        // приход
	IncomeReturn  OpTotals  `json:"incomeReturn"`  // возврат прихода
	Expense       OpTotals  `json:"expense"`       // расход
	ExpenseReturn OpTotals  `json:"expenseReturn"` // возврат расхода
	CashBalance   Money     `json:"cashBalance"`   // the drawer
}

// OpTotals counts one type of receipt in a shift.
type OpTotals struct {
	Count      uint32 `json:"count"`
	Sum        Money  `json:"sum"`
	Cash       Money  `json:"cash"`
	Electronic Money  `json:"electronic"`
	Other      Money  `json:"other"` // prepayment, postpayment and other forms
}

// Lease is one document handed to the register. Document is the shop JSON as the
// cloud stored it; decode it with json.Unmarshal into a Document.
type Lease struct {
	ID          string          `json:"id"`
	Document    json.RawMessage `json:"document"`
	LeasedUntil time.Time       `json:"leasedUntil"`
	// Requeued: the shop re-queued this document after it FAILED, so a register
	// that holds it as failed fiscalizes it again instead of repeating the failure.
	Requeued bool `json:"requeued,omitempty"`
}

// LeaseResponse is the body of POST /api/device/v1/lease.
type LeaseResponse struct {
	Documents []Lease `json:"documents"`
}

// Result is the register's outcome for one leased document.
type Result struct {
	ID          string       `json:"id"`
	Status      DocState     `json:"status"` // Printed or Failed
	FiscalInfo  *FiscalInfo  `json:"fiscalInfo,omitempty"`
	FailureInfo *FailureInfo `json:"failureInfo,omitempty"`
	Message     string       `json:"message,omitempty"`
}

// ResultsRequest is the body of POST /api/device/v1/results.
type ResultsRequest struct {
	Results []Result `json:"results"`
}

// ResultsResponse lists the ids the cloud does not know (they are dropped, not retried).
type ResultsResponse struct {
	Unknown []string `json:"unknown,omitempty"`
}

// DriveHealth is the fiscal drive's part of Health.
type DriveHealth struct {
	Phase      string    `json:"phase"`
	Number     string    `json:"number"`
	RegNumber  string    `json:"regNumber"`
	ValidUntil time.Time `json:"validUntil,omitzero"`
	Warnings   []string  `json:"warnings,omitempty"`
	LastFD     uint32    `json:"lastFd"`
	Error      string    `json:"error,omitempty"`
}

// PrinterHealth is the printer's part of Health.
type PrinterHealth struct {
	State     string `json:"state"`
	Paper     string `json:"paper"`
	CoverOpen bool   `json:"coverOpen"`
}

// Health is the register's state, sent in heartbeats.
type Health struct {
	At              time.Time   `json:"at"`
	Version         string      `json:"version"`
	CloudReachable  bool        `json:"cloudReachable"`
	OFDReachable    bool        `json:"ofdReachable"`
	Drive           DriveHealth `json:"drive"`
	ShiftOpen       bool        `json:"shiftOpen"`
	ShiftNumber     uint32      `json:"shiftNumber"`
	ShiftOpenedAt   time.Time   `json:"shiftOpenedAt,omitzero"`
	WaitingForDrive int         `json:"waitingForDrive"` // accepted, not yet fiscalized
	WaitingForOFD   int         `json:"waitingForOfd"`   // fiscalized, not acknowledged by the OFD
	OldestUnsentAt  time.Time   `json:"oldestUnsentAt,omitzero"`
	// OFDAckedThrough is the last fiscal document number the OFD has acknowledged,
	// with every one before it: the drive delivers in order.
	OFDAckedThrough uint32        `json:"ofdAckedThrough"`
	LastOFDExchange time.Time     `json:"lastOfdExchange,omitzero"`
	Printer         PrinterHealth `json:"printer"`
	Stopped         bool          `json:"stopped"`
	StopReason      string        `json:"stopReason,omitempty"`
	RemoteMode      bool          `json:"remoteMode"`
	DiskFull        string        `json:"diskFull,omitempty"` // why the register's disk is the problem (our addition)
	// Command is the outcome of the last command from the cabinet.
	Command *CommandOutcome `json:"command,omitempty"`
}

// APIError is the body of every 4xx answer: the message and the field it is about.
type APIError struct {
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}
