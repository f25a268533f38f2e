package fiscal

import (
	"fmt"
	"math"
	"math/bits"
)

// Names of the documents (1000), as printed.
const (
	NameReceipt            = "КАССОВЫЙ ЧЕК"
	NameCorrection         = "КАССОВЫЙ ЧЕК КОРРЕКЦИИ"
	NameRegistration       = "ОТЧЕТ О РЕГИСТРАЦИИ"
	NameRegistrationChange = "ОТЧЕТ ОБ ИЗМЕНЕНИИ ПАРАМЕТРОВ РЕГИСТРАЦИИ"
	NameShiftOpen          = "ОТЧЕТ ОБ ОТКРЫТИИ СМЕНЫ"
	NameShiftClose         = "ОТЧЕТ О ЗАКРЫТИИ СМЕНЫ"
	NameStateReport        = "ОТЧЕТ О ТЕКУЩЕМ СОСТОЯНИИ РАСЧЕТОВ"
	NameDriveClose         = "ОТЧЕТ О ЗАКРЫТИИ ФН"
)

// FFD105 is the value of 1209, 1189 and 1190 for FFD 1.05.
const FFD105 = 2

// MaxMoney is the largest sum a 6-byte VLN holds, in kopecks.
const MaxMoney = 1<<48 - 1

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13,
	1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// ItemSum is price × q rounded half-up to the kopeck, the way 1043 must relate
// to 1079 and 1023. It is -1 when price is negative, q has more decimals than a
// uint64 power of ten holds, or the product does not fit an int64: Validate
// refuses those before it compares sums.
func ItemSum(price int64, q Quantity) int64 {
	if price < 0 || int(q.Decimals) >= len(pow10) {
		return -1
	}
	div := pow10[q.Decimals]
	hi, lo := bits.Mul64(uint64(price), q.Value)
	var carry uint64
	lo, carry = bits.Add64(lo, div/2, 0)
	hi += carry
	if hi >= div {
		return -1
	}
	s, _ := bits.Div64(hi, lo, div)
	if s > math.MaxInt64 {
		return -1
	}
	return int64(s)
}

// vatFraction is the share of a price-with-VAT that is VAT, as num/den
// (20/120 for 20 % and 20/120 …), by rate; zero for 0 % and no VAT.
var vatFraction = [...][2]uint64{VAT20: {20, 120}, VAT20120: {20, 120}, VAT10: {10, 110}, VAT10110: {10, 110},
	VAT5: {5, 105}, VAT5105: {5, 105}, VAT7: {7, 107}, VAT7107: {7, 107}, VAT22: {22, 122}, VAT22122: {22, 122}}

// VAT is the VAT contained in sum at rate: sum × 20 / 120 for 20% and 20/120,
// × 10 / 110, × 5 / 105, × 7 / 107 and × 22 / 122 likewise, rounded half away
// from zero to the kopeck; zero for 0% and no VAT. Prices include VAT, so it is
// never sum × 20 / 100.
func VAT(sum int64, rate VATRate) int64 {
	if int(rate) >= len(vatFraction) || vatFraction[rate][1] == 0 {
		return 0
	}
	num, den := vatFraction[rate][0], vatFraction[rate][1]
	u := uint64(sum)
	if sum < 0 {
		u = -u
	}
	hi, lo := bits.Mul64(u, num)
	if hi >= den {
		return 0 // beyond any sum a receipt holds; Validate refuses it first
	}
	q, r := bits.Div64(hi, lo, den)
	if 2*r >= den {
		q++
	}
	if sum < 0 {
		return -int64(q)
	}
	return int64(q)
}

// vatTag is the receipt-level tag summing the items of each rate (index:
// VATRate); the rates without one (5 %, 7 %, 22 % and their fractions) are
// summed in 1115 instead.
var vatTag = [...]Tag{VAT20: TagVAT20, VAT10: TagVAT10, VAT20120: TagVAT20120, VAT10110: TagVAT10110,
	VAT0: TagVAT0, VATNone: TagVATNone, MaxVATRate: 0}

// Total is the receipt's total (1020): the sum of its items' sums.
func (r *Receipt) Total() int64 {
	var t int64
	for i := range r.Items {
		t += r.Items[i].Sum
	}
	return t
}

// vatSums are the receipt's VAT sums by rate: for the rates with VAT the VAT of
// each item (its 1200 when given, else computed) summed; for 0% and no VAT the
// items' sums. present marks the rates that occur.
func (r *Receipt) vatSums() (sums [MaxVATRate + 1]int64, present [MaxVATRate + 1]bool) {
	for i := range r.Items {
		it := &r.Items[i]
		if !it.VAT.Valid() {
			continue
		}
		present[it.VAT] = true
		switch {
		case it.VAT == VAT0 || it.VAT == VATNone:
			sums[it.VAT] += it.Sum
		case it.VATSum >= 0:
			sums[it.VAT] += it.VATSum
		default:
			sums[it.VAT] += VAT(it.Sum, it.VAT)
		}
	}
	return sums, present
}

// VATSum is one line of the receipt's VAT sums: the rate and, for 0% and no
// VAT, the sum settled at it, else the VAT.
type VATSum struct {
	Rate VATRate
	Sum  int64
}

// VATSums are the receipt's VAT sums by rate, in the order of 1199's values.
func (r *Receipt) VATSums() []VATSum {
	sums, present := r.vatSums()
	var out []VATSum
	for rate, ok := range present {
		if ok {
			out = append(out, VATSum{VATRate(rate), sums[rate]})
		}
	}
	return out
}

// appendVATSums writes the receipt-level VAT sums: 1102–1107 for the rates
// that have a tag of their own; the others as 1115 {1119 {1199, 1120}} per
// rate (FFD105.md, "VAT since 2025–2026"). A receipt whose sums are all in
// 1115 carries 1104 = 0 besides, as the registers that introduced 1115 do.
func (r *Receipt) appendVATSums(dst []byte) ([]byte, error) {
	sums, present := r.vatSums()
	flat := false
	for rate, ok := range present {
		if ok && vatTag[rate] != 0 {
			dst = AppendVLN(dst, vatTag[rate], uint64(sums[rate]))
			flat = true
		}
	}
	var mark int
	open := false
	for rate, ok := range present {
		if !ok || vatTag[rate] != 0 {
			continue
		}
		if !open {
			if !flat {
				dst = AppendVLN(dst, TagVAT0, 0)
			}
			dst, mark = BeginSTLV(dst, TagVATSums)
			open = true
		}
		var m int
		dst, m = BeginSTLV(dst, TagVATSumByRate)
		dst = AppendByte(dst, TagVATRate, byte(rate))
		dst = AppendVLN(dst, TagVATAmount, uint64(sums[rate]))
		var err error
		if dst, err = endSTLV(dst, m); err != nil {
			return dst, err
		}
	}
	if !open {
		return dst, nil
	}
	return endSTLV(dst, mark)
}

// DocType is the receipt's document type: DocCorrection when Correction is set.
func (r *Receipt) DocType() Tag {
	if r.Correction != nil {
		return DocCorrection
	}
	return DocReceipt
}

// AppendTLV appends the elements the register gives for the receipt (3) or the
// correction receipt (31): everything but the outer STLV header and the tags the
// drive adds when it signs (1040, 1041, 1012, 1038, 1042, 1077). It checks only
// what it cannot encode (characters outside CP866, an STLV over its limit); call
// Validate first. It does not allocate beyond growing dst.
func (r *Receipt) AppendTLV(dst []byte) ([]byte, error) {
	name := NameReceipt
	if r.Correction != nil {
		name = NameCorrection
	}
	dst, err := appendHead(dst, name, &r.Seller)
	if err != nil {
		return dst, err
	}
	dst = AppendByte(dst, TagCalcSign, byte(r.Sign))
	dst = AppendByte(dst, TagTaxSystem, byte(r.TaxSystem))
	if c := r.Correction; c != nil {
		typ := byte(0)
		if c.ByOrder {
			typ = 1
		}
		dst = AppendByte(dst, TagCorrectionType, typ)
		var mark int
		dst, mark = BeginSTLV(dst, TagCorrectionBasis)
		if dst, err = AppendString(dst, TagBasisName, c.Name); err != nil {
			return dst, fmt.Errorf("fiscal: correction.name: %w", err)
		}
		dst = AppendTime(dst, TagBasisDate, c.Date)
		if dst, err = AppendString(dst, TagBasisNumber, c.Number); err != nil {
			return dst, fmt.Errorf("fiscal: correction.number: %w", err)
		}
		if dst, err = endSTLV(dst, mark); err != nil {
			return dst, err
		}
	} else {
		for i := range r.Items {
			if dst, err = r.Items[i].appendTLV(dst); err != nil {
				return dst, fmt.Errorf("fiscal: items[%d]: %w", i, err)
			}
		}
	}
	dst = AppendVLN(dst, TagTotal, uint64(r.Total()))
	p := &r.Payments
	dst = AppendVLN(dst, TagCash, uint64(p.Cash))
	dst = AppendVLN(dst, TagElectronic, uint64(p.Electronic))
	dst = AppendVLN(dst, TagPrepaid, uint64(p.Prepaid))
	dst = AppendVLN(dst, TagCredit, uint64(p.Credit))
	dst = AppendVLN(dst, TagOther, uint64(p.Other))
	if dst, err = r.appendVATSums(dst); err != nil {
		return dst, err
	}
	if dst, err = appendCashier(dst, r.Cashier, r.CashierINN); err != nil {
		return dst, err
	}
	if r.BuyerContact != "" {
		if dst, err = AppendString(dst, TagBuyerContact, r.BuyerContact); err != nil {
			return dst, err
		}
		if r.Seller.Email != "" {
			if dst, err = AppendString(dst, TagSenderEmail, r.Seller.Email); err != nil {
				return dst, err
			}
		}
	}
	if dst, err = appendOptString(dst, TagBuyerName, r.BuyerName); err != nil {
		return dst, err
	}
	if r.BuyerINN != "" {
		if dst, err = appendINN(dst, TagBuyerINN, r.BuyerINN); err != nil {
			return dst, err
		}
	}
	if dst, err = appendOptString(dst, TagReceiptRequisite, r.Requisite); err != nil {
		return dst, err
	}
	if r.ShopID != "" {
		var mark int
		dst, mark = BeginSTLV(dst, TagUserRequisite)
		if dst, err = AppendString(dst, TagRequisiteName, "id"); err != nil {
			return dst, err
		}
		if dst, err = AppendString(dst, TagRequisiteValue, r.ShopID); err != nil {
			return dst, err
		}
		if dst, err = endSTLV(dst, mark); err != nil {
			return dst, err
		}
	}
	if r.AgentFlags != 0 {
		dst = AppendByte(dst, TagAgentFlags, r.AgentFlags)
	}
	if r.Agent != nil {
		if dst, err = r.Agent.appendTLV(dst); err != nil {
			return dst, err
		}
	}
	if r.Supplier != nil {
		for _, ph := range r.Supplier.Phones {
			if dst, err = AppendString(dst, TagSupplierPhone, ph); err != nil {
				return dst, err
			}
		}
	}
	return appendFlags(dst, &r.Seller)
}

// appendSeller writes 1048, 1018, 1009, 1187 and, once known, 1037.
func appendSeller(dst []byte, s *Seller) ([]byte, error) {
	var err error
	if dst, err = AppendString(dst, TagUserName, s.Name); err != nil {
		return dst, err
	}
	if dst, err = appendINN(dst, TagUserINN, s.INN); err != nil {
		return dst, err
	}
	if dst, err = AppendString(dst, TagAddress, s.Address); err != nil {
		return dst, err
	}
	if dst, err = AppendString(dst, TagPlace, s.Place); err != nil {
		return dst, err
	}
	if s.RegNumber != "" {
		if dst, err = appendPadded(dst, TagRegNumber, s.RegNumber, 20); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

// appendFlags writes 1108 and 1001 when set (receipts carry them only then),
// and with 1001 the automatic device's number 1036.
func appendFlags(dst []byte, s *Seller) ([]byte, error) {
	if s.Internet {
		dst = AppendByte(dst, TagInternet, 1)
	}
	if s.Automatic {
		dst = AppendByte(dst, TagAutomatic, 1)
		return AppendString(dst, TagVendingMachine, s.Machine)
	}
	return dst, nil
}

func (it *Item) appendTLV(dst []byte) ([]byte, error) {
	var err error
	dst, mark := BeginSTLV(dst, TagItem)
	if dst, err = AppendString(dst, TagItemName, it.Name); err != nil {
		return dst, err
	}
	dst = AppendVLN(dst, TagPrice, uint64(it.Price))
	dst = AppendFVLN(dst, TagQuantity, it.Quantity.Value, it.Quantity.Decimals)
	dst = AppendVLN(dst, TagItemSum, uint64(it.Sum))
	dst = AppendByte(dst, TagVATRate, byte(it.VAT))
	dst = AppendByte(dst, TagMethod, it.Method)
	dst = AppendByte(dst, TagSubject, it.Subject)
	if dst, err = appendOptString(dst, TagUnit, it.Unit); err != nil {
		return dst, err
	}
	if it.AgentFlags != 0 {
		dst = AppendByte(dst, TagItemAgentFlags, it.AgentFlags)
	}
	if it.Agent != nil && !it.Agent.empty() {
		var m int
		dst, m = BeginSTLV(dst, TagItemAgent)
		if dst, err = it.Agent.appendTLV(dst); err != nil {
			return dst, err
		}
		if dst, err = endSTLV(dst, m); err != nil {
			return dst, err
		}
	}
	if s := it.Supplier; s != nil {
		if s.INN != "" {
			if dst, err = appendINN(dst, TagSupplierINN, s.INN); err != nil {
				return dst, err
			}
		}
		if s.Name != "" || len(s.Phones) > 0 {
			var m int
			dst, m = BeginSTLV(dst, TagItemSupplier)
			for _, ph := range s.Phones {
				if dst, err = AppendString(dst, TagSupplierPhone, ph); err != nil {
					return dst, err
				}
			}
			if dst, err = appendOptString(dst, TagSupplierName, s.Name); err != nil {
				return dst, err
			}
			if dst, err = endSTLV(dst, m); err != nil {
				return dst, err
			}
		}
	}
	if len(it.MarkCode) > 0 {
		dst = AppendTLV(dst, TagMarkCode, it.MarkCode)
	}
	if dst, err = appendOptString(dst, TagCountry, it.Country); err != nil {
		return dst, err
	}
	if dst, err = appendOptString(dst, TagCustoms, it.Customs); err != nil {
		return dst, err
	}
	if it.VATSum >= 0 {
		dst = AppendVLN(dst, TagItemVAT, uint64(it.VATSum))
	}
	return endSTLV(dst, mark)
}

func (a *AgentData) empty() bool {
	return a.Operation == "" && len(a.PayingAgentPhones) == 0 && len(a.ReceiverPhones) == 0 &&
		len(a.TransferOperPhones) == 0 && a.TransferOperName == "" && a.TransferOperAddr == "" &&
		a.TransferOperINN == ""
}

// appendTLV writes the agent's tags in the drivers' order; on an item the caller
// wraps them in 1223, on a receipt they stand at the top level.
func (a *AgentData) appendTLV(dst []byte) ([]byte, error) {
	var err error
	if dst, err = appendOptString(dst, TagAgentOperation, a.Operation); err != nil {
		return dst, err
	}
	for _, group := range [...]struct {
		t      Tag
		phones []string
	}{{TagAgentPhone, a.PayingAgentPhones}, {TagReceiverPhone, a.ReceiverPhones}, {TagTransferPhone, a.TransferOperPhones}} {
		for _, ph := range group.phones {
			if dst, err = AppendString(dst, group.t, ph); err != nil {
				return dst, err
			}
		}
	}
	if dst, err = appendOptString(dst, TagTransferOperName, a.TransferOperName); err != nil {
		return dst, err
	}
	if dst, err = appendOptString(dst, TagTransferOperAddr, a.TransferOperAddr); err != nil {
		return dst, err
	}
	if a.TransferOperINN != "" {
		if dst, err = appendINN(dst, TagTransferOperINN, a.TransferOperINN); err != nil {
			return dst, err
		}
	}
	return dst, nil
}

func appendOptString(dst []byte, t Tag, s string) ([]byte, error) {
	if s == "" {
		return dst, nil
	}
	return AppendString(dst, t, s)
}

// appendINN writes an INN right-padded with spaces to 12, as 1016, 1017, 1018,
// 1203, 1226 and 1228 carry a 10-digit one.
func appendINN(dst []byte, t Tag, inn string) ([]byte, error) {
	return appendPadded(dst, t, inn, 12)
}

// appendPadded writes s right-padded with spaces to width bytes.
func appendPadded(dst []byte, t Tag, s string, width int) ([]byte, error) {
	start := len(dst)
	dst, err := AppendString(dst, t, s)
	if err != nil {
		return dst, err
	}
	for len(dst)-start-4 < width {
		dst = append(dst, ' ')
	}
	return EndSTLV(dst, start), nil
}

// endSTLV closes an STLV and refuses one longer than its tag allows.
func endSTLV(dst []byte, mark int) ([]byte, error) {
	t := Tag(uint16(dst[mark]) | uint16(dst[mark+1])<<8)
	if n := len(dst) - mark - 4; n > maxLen(t) {
		return dst[:mark], fmt.Errorf("fiscal: tag %d: STLV of %d bytes, max %d", t, n, maxLen(t))
	}
	return EndSTLV(dst, mark), nil
}
