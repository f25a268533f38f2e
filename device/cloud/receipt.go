package cloud

import (
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"strings"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

// VAT2026 is the first day of the standard rate of 22 % (law 425-ФЗ of
// 28.11.2025), on the register's wall clock.
var VAT2026 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// onOrAfter2026 says whether tm's wall-clock date, in its own zone, is 2026 or later.
func onOrAfter2026(tm time.Time) bool { return tm.Year() >= VAT2026.Year() }

// Standard22 says whether the standard-rate codes vatTag 1102 and 1106 mean 22 %
// and 22/122 for this document settled at at (the register's local time):
// from 2026 they do, unless the point keeps them at 20 % (KeepVAT20) or the
// document follows from an operation before 2026 — a return or credit payment
// whose originalDate, or a correction whose baseDate, is in 2025 or earlier
// keeps that operation's 20 % (ФНС letter АБ-4-20/11248@). vatTag 1113/1114
// are 22 % and 1102/1106 20 % otherwise, whatever the date.
func (d *Document) Standard22(p Point, at time.Time) bool {
	if p.KeepVAT20 || at.IsZero() || !onOrAfter2026(at) {
		return false
	}
	orig := d.OriginalDate
	if c := d.Correction; c != nil && orig.IsZero() {
		orig, _ = baseDate(c.BaseDate)
	}
	return orig.IsZero() || onOrAfter2026(orig)
}

// Receipt builds the receipt as ReceiptAt does, dated by the document's own
// checkoutDateTime (no date: vatTag 1102/1106 stay 20 %). It serves checks and
// views; the register fiscalizes with ReceiptAt and its own clock.
func (d *Document) Receipt(p Point) (*fiscal.Receipt, error) {
	return d.ReceiptAt(p, d.CheckoutDateTime)
}

// ReceiptAt builds the fiscal receipt of the document for the retail point p,
// settled at at (the register's local time, which picks the standard VAT rate:
// see Standard22): the seller comes from the point, ShopID is the document's
// id, and the result has passed the fiscal model's validation. Errors are
// *FieldError naming the shop's field.
func (d *Document) ReceiptAt(p Point, at time.Time) (*fiscal.Receipt, error) {
	sign, ok := docTypes[d.DocType]
	if !ok {
		return nil, fieldErr("docType", "unknown %q", d.DocType)
	}
	tax, err := d.taxSystem(p)
	if err != nil {
		return nil, err
	}
	r := &fiscal.Receipt{
		Seller: fiscal.Seller{
			Name: p.Name, INN: p.INN, Address: p.Address, Place: p.Place,
			TaxSystems: p.TaxSystems, RegNumber: p.RegNumber, Email: p.Email,
			// An online shop's receipt says so (1108); a point the owner marks as
			// working offline settles at its own place, not on the internet.
			Internet:  p.ShopDocuments && !p.Offline,
			Automatic: p.Automatic, Machine: p.MachineNumber,
		},
		Sign:         sign,
		TaxSystem:    tax,
		Cashier:      d.CashierName,
		CashierINN:   d.CashierInn,
		BuyerContact: d.Email,
		BuyerName:    d.ClientName,
		BuyerINN:     d.ClientInn,
		ShopID:       d.ID,
	}
	if d.AgentInfo != nil {
		r.AgentFlags, r.Agent = d.AgentInfo.model()
	}
	if c := d.Correction; c != nil {
		date, err := baseDate(c.BaseDate)
		if err != nil {
			return nil, &FieldError{Field: "correction.baseDate", Message: "want YYYY-MM-DD", Err: err}
		}
		r.Correction = &fiscal.Correction{ByOrder: c.Type == "ORDER", Name: c.BaseName, Date: date, Number: c.BaseNumber}
	}
	std22 := d.Standard22(p, at)
	for i, pos := range d.InventPositions {
		it, err := pos.item(fmt.Sprintf("inventPositions[%d]", i), std22)
		if err != nil {
			return nil, err
		}
		r.Items = append(r.Items, it)
	}
	for _, m := range d.MoneyPositions {
		at, ok := paymentTypes[m.PaymentType]
		if !ok {
			return nil, fieldErr("moneyPositions", "unknown paymentType %q", m.PaymentType)
		}
		*at(&r.Payments) += int64(m.Sum)
	}
	if err := r.Validate(); err != nil {
		var fe *fiscal.FieldError
		if errors.As(err, &fe) {
			return nil, &FieldError{Field: shopField(fe.Field), Message: fe.Rule, Err: err}
		}
		return nil, &FieldError{Message: err.Error(), Err: err}
	}
	return r, nil
}

// taxSystem is the document's taxMode, or the point's when it has one system;
// with several, the lowest registered one (the vendor does not say which).
func (d *Document) taxSystem(p Point) (fiscal.TaxSystem, error) {
	if d.TaxMode == "" {
		if p.TaxSystems == 0 {
			return 0, fieldErr("taxMode", "required: the retail point has no tax system")
		}
		return fiscal.TaxSystem(1 << bits.TrailingZeros8(byte(p.TaxSystems))), nil
	}
	t, ok := taxModes[d.TaxMode]
	if !ok {
		return 0, fieldErr("taxMode", "unknown %q", d.TaxMode)
	}
	if p.TaxSystems&t == 0 {
		return 0, fieldErr("taxMode", "%s is not a tax system of the retail point", d.TaxMode)
	}
	return t, nil
}

// item turns a position into the model's item. A discount lowers the sum; the unit
// price written (1079, after discounts) is then the sum over the quantity. With
// std22 the standard-rate codes 1102 and 1106 become 22 % and 22/122.
func (pos Position) item(path string, std22 bool) (fiscal.Item, error) {
	q := fiscal.Quantity(pos.Quantity)
	gross := fiscal.ItemSum(int64(pos.Price), q)
	if gross < 0 {
		return fiscal.Item{}, fieldErr(path+".price", "price %s × quantity %s exceeds %s, the largest sum a receipt holds",
			pos.Price, q, Money(fiscal.MaxMoney))
	}
	sum := gross - int64(pos.DiscSum)
	if sum < 0 {
		return fiscal.Item{}, fieldErr(path+".discSum", "larger than the position's sum")
	}
	price := int64(pos.Price)
	if pos.DiscSum > 0 {
		var ok bool
		if price, ok = unitPrice(sum, q); !ok {
			return fiscal.Item{}, fieldErr(path+".discSum",
				"no price in whole kopecks times the quantity gives %s; split the position", Money(sum))
		}
	}
	given := vatTags[pos.VatTag]
	rate := given
	if std22 {
		switch rate {
		case fiscal.VAT20:
			rate = fiscal.VAT22
		case fiscal.VAT20120:
			rate = fiscal.VAT22122
		}
	}
	it := fiscal.Item{
		Name: pos.Name, Price: price, Quantity: q, Sum: sum, VAT: rate, VATSum: -1,
		Subject: 1, Method: 4, Unit: pos.Measure,
		Country: pos.OriginCountryCode, Customs: pos.CustomsDeclarationNumber,
	}
	if pos.AgentInfo != nil {
		it.AgentFlags, it.Agent = pos.AgentInfo.model()
	}
	if si := pos.SupplierInfo; si != nil {
		it.Supplier = &fiscal.Supplier{Name: si.Name, Phones: si.Phones, INN: si.Inn}
	}
	var err error
	switch {
	case pos.ProductMark != "":
		if it.MarkCode, err = fiscal.MarkCode(pos.ProductMark); err != nil {
			return fiscal.Item{}, &FieldError{Field: path + ".productMark", Message: err.Error(), Err: err}
		}
	case pos.NomenclatureCode != "":
		if it.MarkCode, err = nomenclature(pos.NomenclatureCode); err != nil {
			return fiscal.Item{}, &FieldError{Field: path + ".nomenclatureCode", Message: err.Error(), Err: err}
		}
	}
	if pos.PaymentObject != "" {
		it.Subject = paymentObjects[pos.PaymentObject]
	}
	if pos.PaymentMethod != "" {
		it.Method = paymentMethods[pos.PaymentMethod]
	}
	near := func(v Money, r fiscal.VATRate) bool {
		d := int64(v) - fiscal.VAT(sum, r)
		return d >= -1 && d <= 1
	}
	switch {
	case pos.VatSum == nil:
	case rate != given && near(*pos.VatSum, given):
		// A shop that sends 1102 for the standard rate computed its vatSum at
		// 20 %: the receipt carries the VAT of the rate it is mapped to, and
		// 1200 is left out rather than wrong.
	case !near(*pos.VatSum, rate):
		return fiscal.Item{}, fieldErr(path+".vatSum", "%s differs from the computed VAT %s (%s)", pos.VatSum,
			Money(fiscal.VAT(sum, rate)), rate)
	default:
		it.VATSum = int64(*pos.VatSum)
	}
	return it, nil
}

// model is the agent flags (1057 or 1222) and the agent's data, nil when it has none.
func (a *AgentInfo) model() (byte, *fiscal.AgentData) {
	var flags byte
	for _, t := range a.Types {
		flags |= agentTypes[t]
	}
	var ad fiscal.AgentData
	if pa := a.PayingAgent; pa != nil {
		ad.Operation, ad.PayingAgentPhones = pa.Operation, pa.Phones
	}
	if ro := a.ReceivePaymentsOperator; ro != nil {
		ad.ReceiverPhones = ro.Phones
	}
	if mt := a.MoneyTransferOperator; mt != nil {
		ad.TransferOperPhones, ad.TransferOperName, ad.TransferOperAddr, ad.TransferOperINN = mt.Phones, mt.Name, mt.Address, mt.Inn
	}
	if ad.Operation == "" && ad.PayingAgentPhones == nil && ad.ReceiverPhones == nil && ad.TransferOperPhones == nil &&
		ad.TransferOperName == "" && ad.TransferOperAddr == "" && ad.TransferOperINN == "" {
		return flags, nil
	}
	return flags, &ad
}

// unitPrice is the kopeck price whose product with q is sum (1043 = 1079 × 1023,
// as the model requires), if there is one.
func unitPrice(sum int64, q fiscal.Quantity) (int64, bool) {
	p := uint64(1)
	for range q.Decimals {
		p *= 10
	}
	guess := int64((2*uint64(sum)*p + q.Value) / (2 * q.Value))
	for _, c := range []int64{guess, guess - 1, guess + 1} {
		if c >= 0 && fiscal.ItemSum(c, q) == sum {
			return c, true
		}
	}
	return 0, false
}

var itemPath = regexp.MustCompile(`^items\[(\d+)\](?:\.(.+))?$`)

// itemFields and receiptFields map the model's field paths to the shop document's;
// a path not listed keeps its first part mapped and the rest as it is.
var itemFields = map[string]string{
	"name": "name", "price": "price", "quantity": "quantity", "sum": "price",
	"vat": "vatTag", "vatSum": "vatSum", "subject": "paymentObject", "method": "paymentMethod",
	"unit": "measure", "country": "originCountryCode", "customs": "customsDeclarationNumber",
	"markCode": "productMark", "agentFlags": "agentInfo.types", "agent": "agentInfo", "supplier": "supplierInfo",
	"supplier.name": "supplierInfo.name", "supplier.inn": "supplierInfo.inn", "supplier.phones": "supplierInfo.phones",
}

var receiptFields = map[string]string{
	"sign": "docType", "taxSystem": "taxMode", "items": "inventPositions", "payments": "moneyPositions",
	"cashier": "cashierName", "cashierInn": "cashierInn", "buyerContact": "email",
	"buyerName": "clientName", "buyerInn": "clientInn", "shopId": "id", "requisite": "docNum",
	"agentFlags": "agentInfo.types", "agent": "agentInfo", "correction": "correction", "supplier": "agentInfo",
	"correction.name": "correction.baseName", "correction.date": "correction.baseDate",
	"correction.number": "correction.baseNumber",
	"payments.cash":     "moneyPositions", "payments.electronic": "moneyPositions", "payments.prepaid": "moneyPositions",
	"payments.credit": "moneyPositions", "payments.other": "moneyPositions",
}

// agentFields map AgentData's fields to the parts of the vendor's agentInfo.
var agentFields = map[string]string{
	"operation": "payingAgent.operation", "payingAgentPhones": "payingAgent.phones",
	"receiverPhones": "receivePaymentsOperator.phones", "transferOperPhones": "moneyTransferOperator.phones",
	"transferOperName": "moneyTransferOperator.name", "transferOperAddr": "moneyTransferOperator.address",
	"transferOperInn": "moneyTransferOperator.inn",
}

// shopField maps a fiscal model path (items[2].price, payments.cash) to the shop's JSON path.
func shopField(p string) string {
	if rest, ok := strings.CutPrefix(p, "seller."); ok {
		return "retailPoint." + rest // the cloud's own data: not the shop's to fix
	}
	if m := itemPath.FindStringSubmatch(p); m != nil {
		out := "inventPositions[" + m[1] + "]"
		if m[2] != "" {
			out += "." + translate(m[2], itemFields)
		}
		return out
	}
	return translate(p, receiptFields)
}

func translate(p string, fields map[string]string) string {
	if f, ok := fields[p]; ok {
		return f
	}
	if rest, ok := strings.CutPrefix(p, "agent."); ok {
		if f, ok := agentFields[rest]; ok {
			return "agentInfo." + f
		}
	}
	head, rest, _ := strings.Cut(p, ".")
	if f, ok := fields[head]; ok {
		if rest != "" {
			return f + "." + rest
		}
		return f
	}
	return p
}
