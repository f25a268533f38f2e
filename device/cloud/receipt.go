package cloud

import (
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"strconv"
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
	r, _, err := d.ReceiptNotes(p, at)
	return r, err
}

// ReceiptNotes is ReceiptAt that also says, one note a line, what the receipt
// writes otherwise than the shop sent it: a position split in two because its
// discount leaves no unit price in whole kopecks (see splitPrice), a vatTag left
// out and taken as 1105. The shop API puts them in the document's message.
func (d *Document) ReceiptNotes(p Point, at time.Time) (*fiscal.Receipt, []string, error) {
	sign, ok := docTypes[d.DocType]
	if !ok {
		return nil, nil, FieldErrorf("docType", "unknown %q", d.DocType)
	}
	tax, err := d.taxSystem(p)
	if err != nil {
		return nil, nil, err
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
			return nil, nil, &FieldError{Field: "correction.baseDate", Message: "want YYYY-MM-DD", Err: err}
		}
		r.Correction = &fiscal.Correction{ByOrder: c.Type == "ORDER", Name: c.BaseName, Date: date, Number: c.BaseNumber}
	}
	std22 := d.Standard22(p, at)
	var notes []string
	// index maps the model's items back to the shop's positions, which a split
	// makes differ, so that an error still names the shop's own position.
	var index []int
	for i, pos := range d.InventPositions {
		its, note, err := pos.items(fmt.Sprintf("inventPositions[%d]", i), std22, tax)
		if err != nil {
			return nil, nil, err
		}
		if note != "" {
			notes = append(notes, note)
		}
		r.Items = append(r.Items, its...)
		for range its {
			index = append(index, i)
		}
	}
	for _, m := range d.MoneyPositions {
		at, ok := paymentTypes[m.PaymentType]
		if !ok {
			return nil, nil, FieldErrorf("moneyPositions", "unknown paymentType %q", m.PaymentType)
		}
		*at(&r.Payments) += int64(m.Sum)
	}
	if err := r.Validate(); err != nil {
		var fe *fiscal.FieldError
		if errors.As(err, &fe) {
			return nil, nil, &FieldError{Field: shopField(fe.Field, index), Message: fe.Rule, Err: err}
		}
		return nil, nil, &FieldError{Message: err.Error(), Err: err}
	}
	return r, notes, nil
}

// taxSystem is the document's taxMode, or the point's when it has one system;
// with several, the lowest registered one (the vendor does not say which).
func (d *Document) taxSystem(p Point) (fiscal.TaxSystem, error) {
	if d.TaxMode == "" {
		if p.TaxSystems == 0 {
			return 0, FieldErrorf("taxMode", "required: the retail point has no tax system")
		}
		return fiscal.TaxSystem(1 << bits.TrailingZeros8(byte(p.TaxSystems))), nil
	}
	t, ok := TaxModes[d.TaxMode]
	if !ok {
		return 0, FieldErrorf("taxMode", "unknown %q", d.TaxMode)
	}
	if p.TaxSystems&t == 0 {
		return 0, FieldErrorf("taxMode", "%s is not a tax system of the retail point", d.TaxMode)
	}
	return t, nil
}

// items turns a position into the model's items: one, or two when its discount
// leaves no unit price in whole kopecks (see splitPrice), with a note saying
// what was done. A discount lowers the sum; the unit price written (1079, after
// discounts) is then the sum over the quantity. With std22 the standard-rate
// codes 1102 and 1106 become 22 % and 22/122.
func (pos Position) items(path string, std22 bool, tax fiscal.TaxSystem) ([]fiscal.Item, string, error) {
	var notes []string
	if pos.VatTag == 0 {
		if !vatTagAbsent(tax) {
			return nil, "", FieldErrorf(path+".vatTag", "required: the VAT code, %s (1105 is without VAT); "+
				"only a PATENT or ENVD document may leave it out", vatTagCodes)
		}
		pos.VatTag = 1105
		notes = append(notes, path+": no vatTag under "+taxModeName(tax)+", written as 1105 (without VAT)")
	}
	if w := fiscal.CP866Text(pos.Name); w != pos.Name {
		notes = append(notes, fmt.Sprintf("%s.name: written as %q", path, w))
	}
	it, err := pos.item(path, std22)
	if err != nil {
		return nil, "", err
	}
	if it.Price >= 0 {
		return []fiscal.Item{it}, strings.Join(notes, "; "), nil
	}
	q := fiscal.Quantity(pos.Quantity)
	parts := splitPrice(it.Sum, q)
	if parts == nil || len(it.MarkCode) > 0 {
		// A marking code names one unit: it cannot be spread over two positions.
		return nil, "", FieldErrorf(path+".discSum",
			"no price in whole kopecks times the quantity gives %s; split the position", Money(it.Sum))
	}
	whole := it.VATSum
	if whole < 0 {
		whole = fiscal.VAT(it.Sum, it.VAT)
	}
	out := make([]fiscal.Item, len(parts))
	var shown []string
	for i, pt := range parts {
		out[i] = it
		out[i].Price, out[i].Quantity, out[i].Sum = pt.price, pt.qty, pt.sum
		shown = append(shown, fmt.Sprintf("%s × %s", Quantity(pt.qty).text(), Money(pt.price)))
	}
	// The position's VAT stays what the shop sent or computed for its whole sum:
	// the second part takes what the first leaves, within the kopeck each part's
	// own VAT allows. Without VAT (1105, 0 %) the parts write no 1200 unless
	// the shop sent a vatSum.
	if whole != 0 {
		out[0].VATSum = fiscal.VAT(out[0].Sum, it.VAT)
		rest := whole - out[0].VATSum
		if d := rest - fiscal.VAT(out[1].Sum, it.VAT); d > 1 {
			out[0].VATSum += d - 1
			rest -= d - 1
		} else if d < -1 {
			out[0].VATSum += d + 1
			rest -= d + 1
		}
		out[1].VATSum = rest
	}
	notes = append(notes, fmt.Sprintf("%s: %s × %s − %s = %s has no unit price in whole kopecks, written as %s",
		path, Quantity(q).text(), pos.Price, pos.DiscSum, Money(it.Sum), strings.Join(shown, " + ")))
	return out, strings.Join(notes, "; "), nil
}

// vatTagAbsent says whether a document under tax may leave vatTag out. The
// vendor's API requires vatTag (FFD105.md, "Shop document"; its field table
// marks it required), and a VAT rate is fiscal data that is not ours to guess.
// Only under the patent (ПСН) and the imputed tax (ЕНВД) is the seller no VAT
// payer whatever it sells, so the answer is 1105 (without VAT) and nothing else.
func vatTagAbsent(tax fiscal.TaxSystem) bool {
	return tax == fiscal.TaxPatent || tax == fiscal.TaxImputed
}

// taxModeName is the shop API's name of a tax system.
func taxModeName(t fiscal.TaxSystem) string {
	for name, v := range TaxModes {
		if v == t {
			return name
		}
	}
	return fmt.Sprint(t)
}

// item turns a position into one model item. Its Price is -1 when the
// discount leaves no unit price in whole kopecks; items then splits it.
func (pos Position) item(path string, std22 bool) (fiscal.Item, error) {
	q := fiscal.Quantity(pos.Quantity)
	gross := fiscal.ItemSum(int64(pos.Price), q)
	if gross < 0 {
		return fiscal.Item{}, FieldErrorf(path+".price", "price %s × quantity %s exceeds %s, the largest sum a receipt holds",
			pos.Price, q, Money(fiscal.MaxMoney))
	}
	sum := gross - int64(pos.DiscSum)
	if sum < 0 {
		return fiscal.Item{}, FieldErrorf(path+".discSum", "larger than the position's sum")
	}
	price := int64(pos.Price)
	if pos.DiscSum > 0 {
		var ok bool
		if price, ok = unitPrice(sum, q); !ok {
			price = -1
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
		return fiscal.Item{}, FieldErrorf(path+".vatSum", "%s differs from the computed VAT %s (%s)", pos.VatSum,
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
		flags |= AgentTypes[t]
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

// pricePart is one run of a split position: qty units at price, summing to sum.
type pricePart struct {
	price int64
	qty   fiscal.Quantity
	sum   int64
}

// splitPrice divides sum over the quantity q into two runs whose unit prices
// are whole kopecks and whose sums add up to sum exactly, as registers and
// their drivers do with a discount that leaves no such price for the whole
// quantity: 289.99 over 3 is 2 × 96.66 + 1 × 96.67. A whole quantity n takes
// the lower price on n − r units and one kopeck more on the r units left; a
// fractional one (2.5 kg) takes the lower price on its whole units and puts
// the rest on its fraction, which every sum fits (its price steps by less than
// a kopeck). Nil when q has no whole unit (then unitPrice always finds a
// price) or sum cannot be split.
func splitPrice(sum int64, q fiscal.Quantity) []pricePart {
	scale := uint64(1)
	for range q.Decimals {
		scale *= 10
	}
	whole, frac := q.Value/scale, q.Value%scale
	if whole == 0 || (frac == 0 && whole < 2) || sum < 0 {
		return nil
	}
	if frac == 0 {
		n := int64(whole)
		low := sum / n
		r := sum - low*n
		return []pricePart{
			{price: low, qty: fiscal.Quantity{Value: uint64(n - r)}, sum: low * (n - r)},
			{price: low + 1, qty: fiscal.Quantity{Value: uint64(r)}, sum: (low + 1) * r},
		}
	}
	low := int64(uint64(sum) * scale / q.Value) // the unit price rounded down
	a := pricePart{price: low, qty: fiscal.Quantity{Value: whole}, sum: low * int64(whole)}
	fq := fiscal.Quantity(normalQuantity(frac, q.Decimals))
	p, ok := unitPrice(sum-a.sum, fq)
	if !ok {
		return nil
	}
	return []pricePart{a, {price: p, qty: fq, sum: sum - a.sum}}
}

// normalQuantity drops a quantity's trailing zero decimals, as parseQuantity does.
func normalQuantity(v uint64, decimals uint8) Quantity {
	q := Quantity{Value: v, Decimals: decimals}
	for q.Decimals > 0 && q.Value%10 == 0 {
		q.Value /= 10
		q.Decimals--
	}
	return q
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

// shopField maps a fiscal model path (items[2].price, payments.cash) to the
// shop's JSON path; index[i] is the shop's position of the model's item i.
func shopField(p string, index []int) string {
	if rest, ok := strings.CutPrefix(p, "seller."); ok {
		return "retailPoint." + rest // the cloud's own data: not the shop's to fix
	}
	if m := itemPath.FindStringSubmatch(p); m != nil {
		n := m[1]
		if i, err := strconv.Atoi(n); err == nil && i < len(index) {
			n = strconv.Itoa(index[i])
		}
		out := "inventPositions[" + n + "]"
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
