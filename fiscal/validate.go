package fiscal

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"time"
)

// FieldError is a receipt that breaks a rule of FFD 1.05 or of the shop API.
// Field is a path into the model as the shop API names it ("items[2].price",
// "payments.cash", "seller.inn"), so the cloud can answer 400 with that field.
type FieldError struct {
	Field string
	Rule  string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

func fieldErr(field, format string, args ...any) error {
	return &FieldError{Field: field, Rule: fmt.Sprintf(format, args...)}
}

// Validate checks the receipt against FFD 1.05 before it goes to the drive and
// returns the first *FieldError found, in a fixed order: sign and tax system,
// seller, correction, items in order, payments, cashier, buyer, requisites,
// receipt-level agent. Whether a refund exceeds what was sold is not its concern.
func (r *Receipt) Validate() error {
	checks := [...]func() error{r.validateHead, r.validateSeller, r.validateCorrection, r.validateItems,
		r.validatePayments, r.validateParties, r.validateAgent}
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

func (r *Receipt) validateHead() error {
	if r.Correction != nil {
		if r.Sign != Income && r.Sign != Expense {
			return fieldErr("sign", "correction receipt sign %d: want 1 (приход) or 3 (расход)", r.Sign)
		}
	} else if r.Sign < Income || r.Sign > ExpenseReturn {
		return fieldErr("sign", "calculation sign %d out of range 1..4", r.Sign)
	}
	if r.TaxSystem == 0 || bits.OnesCount8(byte(r.TaxSystem)) != 1 || r.TaxSystem > TaxPatent {
		return fieldErr("taxSystem", "tax system %d: want exactly one of 1, 2, 4, 8, 16, 32", r.TaxSystem)
	}
	if r.Seller.TaxSystems&r.TaxSystem == 0 {
		return fieldErr("taxSystem", "tax system %d is not among the registered %d", r.TaxSystem, r.Seller.TaxSystems)
	}
	return nil
}

func (r *Receipt) validateSeller() error {
	s := &r.Seller
	if err := s.validate(); err != nil {
		return err
	}
	// The register fills 1037 from the drive's registration: absent is allowed here.
	if reg := strings.TrimRight(s.RegNumber, " "); s.RegNumber != "" && (len(reg) != 16 || !allDigits(reg) || len(s.RegNumber) > 20) {
		return fieldErr("seller.regNumber", "registration number %q: want 16 digits", s.RegNumber)
	}
	if s.Email != "" {
		if err := checkString("seller.email", TagSenderEmail, s.Email, true); err != nil {
			return err
		}
		if !validEmail(s.Email) {
			return fieldErr("seller.email", "%q is not an e-mail address", s.Email)
		}
	}
	return nil
}

// validate checks what every document carries of the seller: name, INN, the
// settlement address and place, and the registered tax systems.
func (s *Seller) validate() error {
	if err := checkString("seller.name", TagUserName, s.Name, true); err != nil {
		return err
	}
	if err := checkINN("seller.inn", s.INN, true); err != nil {
		return err
	}
	if err := checkString("seller.address", TagAddress, s.Address, true); err != nil {
		return err
	}
	if err := checkString("seller.place", TagPlace, s.Place, true); err != nil {
		return err
	}
	if s.Automatic {
		if err := checkString("seller.machine", TagVendingMachine, s.Machine, true); err != nil {
			return err
		}
	}
	if s.TaxSystems == 0 || s.TaxSystems > 63 {
		return fieldErr("seller.taxSystems", "registered tax systems %d: want a non-empty set of 1, 2, 4, 8, 16, 32", s.TaxSystems)
	}
	return nil
}

func (r *Receipt) validateCorrection() error {
	c := r.Correction
	if c == nil {
		return nil
	}
	if err := checkString("correction.name", TagBasisName, c.Name, true); err != nil {
		return err
	}
	if c.Date.IsZero() {
		return fieldErr("correction.date", "basis document date is required")
	}
	if u := LocalUnix(c.Date); u < 0 || u > 1<<32-1 {
		return fieldErr("correction.date", "date %s does not fit a unixtime", c.Date.Format(time.DateOnly))
	}
	// 1179 is required and an empty one is no number: on own initiative too,
	// the basis is a document of the user's (an act, a memo) with its number.
	if c.Number == "" {
		return fieldErr("correction.number", "the basis document's number (1179) is required; for an own act without one, «б/н»")
	}
	return checkString("correction.number", TagBasisNumber, c.Number, true)
}

func (r *Receipt) validateItems() error {
	if len(r.Items) == 0 {
		return fieldErr("items", "a receipt needs at least one item")
	}
	var (
		total int64
		buf   [1100]byte // an item's STLV is at most 1024 bytes
	)
	for i := range r.Items {
		if err := r.Items[i].validate(); err != nil {
			return prefixField(fmt.Sprintf("items[%d]", i), err)
		}
		// Each field within its limit can still make an item, or its agent or
		// supplier data, longer than its STLV allows: encoding is the measure.
		if _, err := r.Items[i].appendTLV(buf[:0]); err != nil {
			return fieldErr(fmt.Sprintf("items[%d]", i), "%v", err)
		}
		total += r.Items[i].Sum
		if total > MaxMoney {
			return fieldErr(fmt.Sprintf("items[%d].sum", i), "receipt total exceeds %d kopecks", int64(MaxMoney))
		}
	}
	return nil
}

// validate checks one item; fields are relative to it ("price"), the caller prefixes them.
func (it *Item) validate() error {
	if err := checkString("name", TagItemName, it.Name, true); err != nil {
		return err
	}
	if err := checkMoney("price", it.Price); err != nil {
		return err
	}
	q := it.Quantity
	if q.Value == 0 {
		return fieldErr("quantity", "quantity must be positive")
	}
	// (check) FFD is silent on the number of decimals; the shop API uses up to 3,
	// we allow up to 6 and a value that fits the 8-byte FVLN.
	if q.Decimals > 6 || q.Value >= 1<<56 {
		return fieldErr("quantity", "quantity %d / 10^%d: want at most 6 decimals and 7 value bytes", q.Value, q.Decimals)
	}
	if err := checkMoney("sum", it.Sum); err != nil {
		return err
	}
	if want := ItemSum(it.Price, q); want != it.Sum {
		return fieldErr("sum", "sum %d ≠ price × quantity = %d", it.Sum, want)
	}
	if !it.VAT.Valid() {
		return fieldErr("vat", "VAT rate %d out of range 1..%d", it.VAT, MaxVATRate)
	}
	if it.VATSum != -1 {
		if err := checkMoney("vatSum", it.VATSum); err != nil {
			return err
		}
		if want := VAT(it.Sum, it.VAT); it.VATSum-want > 1 || want-it.VATSum > 1 {
			return fieldErr("vatSum", "VAT sum %d differs from the computed %d by more than 1 kopeck", it.VATSum, want)
		}
	}
	// (check) FFD105.md lists 1212 values 1..13; the shop API maps up to 18
	// (property_right … resort_fee, added to 1.05 by later orders): we accept 1..18.
	if it.Subject < 1 || it.Subject > 18 {
		return fieldErr("subject", "subject %d out of range 1..18", it.Subject)
	}
	if it.Method < 1 || it.Method > 7 {
		return fieldErr("method", "method %d out of range 1..7", it.Method)
	}
	if err := checkString("unit", TagUnit, it.Unit, false); err != nil {
		return err
	}
	if n := len(it.MarkCode); n != 0 && (n < 2 || n > maxLen(TagMarkCode)) {
		return fieldErr("markCode", "product code of %d bytes: want 2..%d", n, maxLen(TagMarkCode))
	}
	if it.AgentFlags&0x80 != 0 {
		return fieldErr("agentFlags", "agent flags %#02x: only bits 0..6 are defined", it.AgentFlags)
	}
	if it.Agent != nil {
		if err := prefixField("agent", it.Agent.validate()); err != nil {
			return err
		}
	}
	if it.AgentFlags != 0 && (it.Supplier == nil || it.Supplier.Name == "") {
		return fieldErr("supplier.name", "an item with agent flags needs its supplier's name")
	}
	if it.AgentFlags != 0 && it.Supplier.INN == "" {
		return fieldErr("supplier.inn", "an item with agent flags needs its supplier's INN")
	}
	if s := it.Supplier; s != nil {
		if err := checkString("supplier.name", TagSupplierName, s.Name, false); err != nil {
			return err
		}
		if err := checkINN("supplier.inn", s.INN, false); err != nil {
			return err
		}
		if err := checkPhones("supplier.phones", TagSupplierPhone, s.Phones); err != nil {
			return err
		}
	}
	if it.Country != "" && (len(it.Country) != 3 || !allDigits(it.Country)) {
		return fieldErr("country", "country code %q: want 3 digits (ОКСМ)", it.Country)
	}
	return checkString("customs", TagCustoms, it.Customs, false)
}

func (r *Receipt) validatePayments() error {
	p := &r.Payments
	fields := [...]struct {
		name string
		v    int64
	}{{"payments.cash", p.Cash}, {"payments.electronic", p.Electronic}, {"payments.prepaid", p.Prepaid},
		{"payments.credit", p.Credit}, {"payments.other", p.Other}}
	var sum int64
	for _, f := range fields {
		if err := checkMoney(f.name, f.v); err != nil {
			return err
		}
		sum += f.v
	}
	if total := r.Total(); sum != total {
		return fieldErr("payments", "payments sum to %d, the total is %d", sum, total)
	}
	return nil
}

func (r *Receipt) validateParties() error {
	// A correction receipt names who made it: 1021 is required there
	// (yandex/ofd's receiptCorrection, FFD105.md's correction receipt).
	if r.Correction != nil && r.Cashier == "" {
		return fieldErr("cashier", "a correction receipt needs the cashier's name (1021)")
	}
	if err := checkString("cashier", TagCashier, r.Cashier, false); err != nil {
		return err
	}
	if r.CashierINN != "" && r.Cashier == "" {
		return fieldErr("cashier", "a cashier INN needs the cashier's name")
	}
	if err := checkINN("cashierInn", r.CashierINN, false); err != nil {
		return err
	}
	if c := r.BuyerContact; c != "" {
		if err := checkString("buyerContact", TagBuyerContact, c, false); err != nil {
			return err
		}
		if !validEmail(c) && !validPhone7(c) {
			return fieldErr("buyerContact", "%q is neither an e-mail nor +7 and 10 digits", c)
		}
	}
	if err := checkString("buyerName", TagBuyerName, r.BuyerName, false); err != nil {
		return err
	}
	if err := checkINN("buyerInn", r.BuyerINN, false); err != nil {
		return err
	}
	if err := checkString("requisite", TagReceiptRequisite, r.Requisite, false); err != nil {
		return err
	}
	return checkString("shopId", TagRequisiteValue, r.ShopID, false)
}

func (r *Receipt) validateAgent() error {
	if r.AgentFlags&0x80 != 0 {
		return fieldErr("agentFlags", "agent flags %#02x: only bits 0..6 are defined", r.AgentFlags)
	}
	if r.Agent != nil {
		if err := prefixField("agent", r.Agent.validate()); err != nil {
			return err
		}
	}
	if r.Supplier != nil {
		return checkPhones("supplier.phones", TagSupplierPhone, r.Supplier.Phones)
	}
	return nil
}

func (a *AgentData) validate() error {
	if err := checkString("operation", TagAgentOperation, a.Operation, false); err != nil {
		return err
	}
	if err := checkPhones("payingAgentPhones", TagAgentPhone, a.PayingAgentPhones); err != nil {
		return err
	}
	if err := checkPhones("receiverPhones", TagReceiverPhone, a.ReceiverPhones); err != nil {
		return err
	}
	if err := checkPhones("transferOperPhones", TagTransferPhone, a.TransferOperPhones); err != nil {
		return err
	}
	if err := checkString("transferOperName", TagTransferOperName, a.TransferOperName, false); err != nil {
		return err
	}
	if err := checkString("transferOperAddr", TagTransferOperAddr, a.TransferOperAddr, false); err != nil {
		return err
	}
	return checkINN("transferOperInn", a.TransferOperINN, false)
}

// prefixField puts a path in front of a *FieldError's field: the item's checks
// name fields relative to it so that a valid receipt costs no path strings.
func prefixField(prefix string, err error) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		fe.Field = prefix + "." + fe.Field
	}
	return err
}

// checkString refuses a string that is empty when required, holds a control
// character, or is longer in CP866 bytes than its tag allows. A character
// CP866 lacks is not refused: AppendString writes its nearest form or
// CP866StandIn, one byte either way.
func checkString(field string, t Tag, s string, required bool) error {
	if s == "" {
		if required {
			return fieldErr(field, "must not be empty")
		}
		return nil
	}
	n := 0
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			// NUL, ESC, GS … would reach the drive and the OFD as they are.
			return fieldErr(field, "control character %U is not allowed", r)
		}
		n++
	}
	if max := maxLen(t); n > max {
		return fieldErr(field, "%d bytes in CP866, tag %d allows %d", n, t, max)
	}
	return nil
}

func checkINN(field, inn string, required bool) error {
	if inn == "" {
		if required {
			return fieldErr(field, "must not be empty")
		}
		return nil
	}
	if !ValidINN(inn) {
		return fieldErr(field, "INN %q: want 10 or 12 digits with valid check digits", inn)
	}
	return nil
}

func checkMoney(field string, v int64) error {
	if v < 0 {
		return fieldErr(field, "negative sum %d", v)
	}
	if v > MaxMoney {
		return fieldErr(field, "sum %d exceeds %d kopecks", v, int64(MaxMoney))
	}
	return nil
}

// checkPhones wants "+" and digits, at most the tag's 19 characters.
func checkPhones(field string, t Tag, phones []string) error {
	for i, ph := range phones {
		if len(ph) < 2 || len(ph) > maxLen(t) || ph[0] != '+' || !allDigits(ph[1:]) {
			return fieldErr(fmt.Sprintf("%s[%d]", field, i), "phone %q: want + and up to %d digits", ph, maxLen(t)-1)
		}
	}
	return nil
}

func validPhone7(s string) bool {
	return len(s) == 12 && strings.HasPrefix(s, "+7") && allDigits(s[2:])
}

// validEmail is deliberately loose: one @, something on each side, a dot in the
// domain, no spaces. Mail servers are the judges of the rest.
func validEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at != strings.LastIndexByte(s, '@') || strings.ContainsAny(s, " \t\r\n") {
		return false
	}
	domain := s[at+1:]
	dot := strings.LastIndexByte(domain, '.')
	return dot > 0 && dot < len(domain)-1
}
