package fiscal

import (
	"errors"
	"fmt"
)

// ErrDocType reports a builder asked for a document type it does not build.
var ErrDocType = errors.New("fiscal: document type not built here")

// TaxSite is the tax service's site, 1060 in the registration reports.
const TaxSite = "www.nalog.gov.ru"

// Registration is what a register is registered with: the data of the
// registration report (1) and of its change report (11).
type Registration struct {
	Seller      Seller // 1048, 1018, 1009, 1187, 1037, 1062, 1117, 1108, 1001 with 1036
	Serial      string // 1013 register serial number
	Version     string // 1188 register version
	RegisterFFD byte   // 1189
	DriveFFD    byte   // 1190
	OFDName     string // 1046, empty for an autonomous register
	OFDINN      string // 1017; an autonomous register writes twelve zeros
	Autonomous  bool   // 1002
	Encryption  bool   // 1056
	Services    bool   // 1109 settlements for services only
	BSO         bool   // 1110 an automated system for strict-reporting forms
	Printer     bool   // 1221 a printer installed in the automatic device
	Excise      bool   // 1207 excise goods sold (written only when set)
	Gambling    bool   // 1193 gambling (written only when set)
	Lottery     bool   // 1126 lottery (written only when set)
	AgentFlags  byte   // 1057, the agent types the register works as; 0 for none
	Cashier     string // 1021, required: who registers the register
	CashierINN  string // 1203
	// Reasons are the change report's (11) reason codes 1101, at least one: 1 the
	// drive replaced, 2 the OFD changed, 3 the user's data changed, 4 the
	// register's settings changed. Not written on the registration report.
	Reasons []byte
}

// Reasons of a registration change (1101).
const (
	ReasonDrive    byte = 1 // замена ФН
	ReasonOFD      byte = 2 // замена ОФД
	ReasonUser     byte = 3 // изменение реквизитов
	ReasonSettings byte = 4 // изменение настроек ККТ
)

// Validate checks the registration data, the registration number against the
// INN and serial included; errors are *FieldError.
func (g *Registration) Validate() error {
	s := &g.Seller
	if err := s.validate(); err != nil {
		return err
	}
	if err := checkString("serial", TagRegisterSerial, g.Serial, true); err != nil {
		return err
	}
	if err := ValidRegNumber(s.RegNumber, s.INN, g.Serial); err != nil {
		return &FieldError{Field: "seller.regNumber", Rule: err.Error()}
	}
	if err := checkString("version", TagRegisterVersion, g.Version, true); err != nil {
		return err
	}
	if g.RegisterFFD < 1 || g.RegisterFFD > 4 {
		return fieldErr("registerFfd", "FFD version %d out of range 1..4", g.RegisterFFD)
	}
	if g.DriveFFD < 1 || g.DriveFFD > 4 {
		return fieldErr("driveFfd", "FFD version %d out of range 1..4", g.DriveFFD)
	}
	if !g.Autonomous {
		if err := checkString("ofdName", TagOFDName, g.OFDName, true); err != nil {
			return err
		}
		if err := checkINN("ofdInn", g.OFDINN, true); err != nil {
			return err
		}
	}
	if g.AgentFlags&0x80 != 0 {
		return fieldErr("agentFlags", "agent flags %#02x: only bits 0..6 are defined", g.AgentFlags)
	}
	for i, r := range g.Reasons {
		if r < ReasonDrive || r > ReasonSettings {
			return fieldErr(fmt.Sprintf("reasons[%d]", i), "reason code %d out of range 1..4", r)
		}
	}
	if err := checkString("cashier", TagCashier, g.Cashier, true); err != nil {
		return err
	}
	return checkINN("cashierInn", g.CashierINN, false)
}

// ValidateChange checks the data of a registration change report (11): what
// Validate checks and at least one reason code.
func (g *Registration) ValidateChange() error {
	if len(g.Reasons) == 0 {
		return fieldErr("reasons", "a registration change needs at least one reason code (1101)")
	}
	return g.Validate()
}

// AppendTLV appends the register's elements of a registration report (t = 1)
// or a registration change report (t = 11); the drive adds 1040, 1041, 1012, 1077.
func (g *Registration) AppendTLV(dst []byte, t Tag) ([]byte, error) {
	name := NameRegistration
	switch t {
	case DocRegistration:
	case DocRegistrationChange:
		name = NameRegistrationChange
	default:
		return dst, fmt.Errorf("%w: registration builder, type %d", ErrDocType, t)
	}
	dst, err := appendHead(dst, name, &g.Seller)
	if err != nil {
		return dst, err
	}
	if dst, err = AppendString(dst, TagRegisterSerial, g.Serial); err != nil {
		return dst, err
	}
	if dst, err = AppendString(dst, TagRegisterVersion, g.Version); err != nil {
		return dst, err
	}
	dst = AppendByte(dst, TagRegisterFFD, g.RegisterFFD)
	dst = AppendByte(dst, TagDriveFFD, g.DriveFFD)
	dst = AppendByte(dst, TagTaxSystems, byte(g.Seller.TaxSystems))
	if dst, err = AppendString(dst, TagTaxSite, TaxSite); err != nil {
		return dst, err
	}
	dst = AppendByte(dst, TagAutomatic, boolByte(g.Seller.Automatic))
	if g.Seller.Automatic {
		if dst, err = AppendString(dst, TagVendingMachine, g.Seller.Machine); err != nil {
			return dst, err
		}
	}
	dst = AppendByte(dst, TagAutonomous, boolByte(g.Autonomous))
	dst = AppendByte(dst, TagEncryption, boolByte(g.Encryption))
	dst = AppendByte(dst, TagInternet, boolByte(g.Seller.Internet))
	dst = AppendByte(dst, TagService, boolByte(g.Services))
	dst = AppendByte(dst, TagBSO, boolByte(g.BSO))
	dst = AppendByte(dst, TagPrinterInMachine, boolByte(g.Printer))
	for _, f := range [...]struct {
		t  Tag
		on bool
	}{{TagExcise, g.Excise}, {TagGambling, g.Gambling}, {TagLottery, g.Lottery}} {
		if f.on {
			dst = AppendByte(dst, f.t, 1)
		}
	}
	if g.AgentFlags != 0 {
		dst = AppendByte(dst, TagAgentFlags, g.AgentFlags)
	}
	if dst, err = appendOptString(dst, TagOFDName, g.OFDName); err != nil {
		return dst, err
	}
	ofdINN := g.OFDINN
	if ofdINN == "" && g.Autonomous {
		ofdINN = "000000000000" // no operator: the tables' zeros
	}
	if dst, err = appendINN(dst, TagOFDINN, ofdINN); err != nil {
		return dst, err
	}
	if dst, err = appendOptString(dst, TagSenderEmail, g.Seller.Email); err != nil {
		return dst, err
	}
	if t == DocRegistrationChange {
		for _, r := range g.Reasons {
			dst = AppendByte(dst, TagReRegReason, r)
		}
	}
	return appendCashier(dst, g.Cashier, g.CashierINN)
}

// Report is the register's part of a shift open (2) or close (5) report, a
// current state report (21) or a drive close report (6). The drive adds its
// numbers, the counters (1111, 1118, 1097, 1098, 1116) and the warnings 1050–1053.
type Report struct {
	Seller     Seller // 1048, 1018, 1009, 1187, 1037
	Version    string // 1188 register version (shift open report)
	Cashier    string // 1021 (not in the state report; required in the drive close report)
	CashierINN string // 1203
	Autonomous bool   // 1002, in the state report
}

// AppendTLV appends the report's register elements for document type t.
func (p *Report) AppendTLV(dst []byte, t Tag) ([]byte, error) {
	var name string
	switch t {
	case DocShiftOpen:
		name = NameShiftOpen
	case DocShiftClose:
		name = NameShiftClose
	case DocStateReport:
		name = NameStateReport
	case DocDriveClose:
		name = NameDriveClose
	default:
		return dst, fmt.Errorf("%w: report builder, type %d", ErrDocType, t)
	}
	dst, err := appendHead(dst, name, &p.Seller)
	if err != nil {
		return dst, err
	}
	switch t {
	case DocShiftOpen: // the close report's table lists neither 1188 nor 1189
		if dst, err = AppendString(dst, TagRegisterVersion, p.Version); err != nil {
			return dst, err
		}
		dst = AppendByte(dst, TagRegisterFFD, FFD105)
	case DocStateReport:
		return AppendByte(dst, TagAutonomous, boolByte(p.Autonomous)), nil
	}
	return appendCashier(dst, p.Cashier, p.CashierINN)
}

// appendHead writes what every document opens with: 1000, 1209 and the seller.
func appendHead(dst []byte, name string, s *Seller) ([]byte, error) {
	dst, err := AppendString(dst, TagDocName, name)
	if err != nil {
		return dst, err
	}
	dst = AppendByte(dst, TagFFDVersion, FFD105)
	return appendSeller(dst, s)
}

func appendCashier(dst []byte, name, inn string) ([]byte, error) {
	if name == "" {
		return dst, nil
	}
	dst, err := AppendString(dst, TagCashier, name)
	if err != nil || inn == "" {
		return dst, err
	}
	return appendINN(dst, TagCashierINN, inn)
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
