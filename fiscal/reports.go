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
	Seller      Seller // 1048, 1018, 1009, 1187, 1037, 1062, 1117, 1108, 1001
	Serial      string // 1013 register serial number
	Version     string // 1188 register version
	RegisterFFD byte   // 1189
	DriveFFD    byte   // 1190
	OFDName     string // 1046, empty for an autonomous register
	OFDINN      string // 1017
	Autonomous  bool   // 1002
	Encryption  bool   // 1056
	Cashier     string // 1021
	CashierINN  string // 1203
}

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
	if err := checkString("cashier", TagCashier, g.Cashier, false); err != nil {
		return err
	}
	return checkINN("cashierInn", g.CashierINN, false)
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
	dst = AppendByte(dst, TagAutonomous, boolByte(g.Autonomous))
	dst = AppendByte(dst, TagEncryption, boolByte(g.Encryption))
	dst = AppendByte(dst, TagInternet, boolByte(g.Seller.Internet))
	if dst, err = appendOptString(dst, TagOFDName, g.OFDName); err != nil {
		return dst, err
	}
	if g.OFDINN != "" {
		if dst, err = appendINN(dst, TagOFDINN, g.OFDINN); err != nil {
			return dst, err
		}
	}
	if dst, err = appendOptString(dst, TagSenderEmail, g.Seller.Email); err != nil {
		return dst, err
	}
	return appendCashier(dst, g.Cashier, g.CashierINN)
}

// Report is the register's part of a shift open (2) or close (5) report, a
// current state report (21) or a drive close report (6). The drive adds its
// numbers, the counters (1111, 1118, 1097, 1098, 1116) and the warnings 1050–1053.
type Report struct {
	Seller     Seller // 1048, 1018, 1009, 1187, 1037
	Version    string // 1188 register version (shift reports)
	Cashier    string // 1021 (not in the state report)
	CashierINN string // 1203
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
	if t == DocShiftOpen || t == DocShiftClose {
		if dst, err = AppendString(dst, TagRegisterVersion, p.Version); err != nil {
			return dst, err
		}
		dst = AppendByte(dst, TagRegisterFFD, FFD105)
	}
	if t == DocStateReport {
		return dst, nil
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
