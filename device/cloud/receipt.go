package cloud

import (
	"errors"
	"fmt"
	"math/bits"
	"regexp"
	"strings"

	"github.com/openkassa/kassa/fiscal"
)

// Receipt builds the fiscal receipt of the document for the retail point p: the
// seller comes from the point, ShopID is the document's id, and the result has
// passed the fiscal model's validation. Errors are *FieldError naming the shop's field.
func (d *Document) Receipt(p Point) (*fiscal.Receipt, error) {
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
	for i, pos := range d.InventPositions {
		it, err := pos.item(fmt.Sprintf("inventPositions[%d]", i))
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
// price written (1079, after discounts) is then the sum over the quantity.
func (pos Position) item(path string) (fiscal.Item, error) {
	q := fiscal.Quantity(pos.Quantity)
	gross := fiscal.ItemSum(int64(pos.Price), q)
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
	rate := vatTags[pos.VatTag]
	it := fiscal.Item{
		Name: pos.Name, Price: price, Quantity: q, Sum: sum, VAT: rate, VATSum: -1,
		Subject: 1, Method: 4, Unit: pos.Measure,
		Country: pos.OriginCountryCode, Customs: pos.CustomsDeclarationNumber,
	}
	if pos.PaymentObject != "" {
		it.Subject = paymentObjects[pos.PaymentObject]
	}
	if pos.PaymentMethod != "" {
		it.Method = paymentMethods[pos.PaymentMethod]
	}
	if pos.VatSum != nil {
		want := fiscal.VAT(sum, rate)
		if d := int64(*pos.VatSum) - want; d > 1 || d < -1 {
			return fiscal.Item{}, fieldErr(path+".vatSum", "%s differs from the computed VAT %s", pos.VatSum, Money(want))
		}
		it.VATSum = int64(*pos.VatSum)
	}
	return it, nil
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

var itemPath = regexp.MustCompile(`^items\[(\d+)\](?:\.(\w+))?`)

// itemFields and receiptFields map the model's field paths to the shop document's.
var itemFields = map[string]string{
	"name": "name", "price": "price", "quantity": "quantity", "sum": "price",
	"vat": "vatTag", "vatSum": "vatSum", "subject": "paymentObject", "method": "paymentMethod",
	"unit": "measure", "country": "originCountryCode", "customs": "customsDeclarationNumber",
	"markCode": "productMark", "agentFlags": "agentInfo", "agent": "agentInfo", "supplier": "supplierInfo",
}

var receiptFields = map[string]string{
	"sign": "docType", "taxSystem": "taxMode", "items": "inventPositions", "payments": "moneyPositions",
	"cashier": "cashierName", "cashierInn": "cashierInn", "buyerContact": "email",
	"buyerName": "clientName", "buyerInn": "clientInn", "shopId": "id", "requisite": "docNum",
	"agentFlags": "agentInfo", "agent": "agentInfo", "correction": "correction",
}

// shopField maps a fiscal model path (items[2].price, payments.cash) to the shop's JSON path.
func shopField(p string) string {
	if m := itemPath.FindStringSubmatch(p); m != nil {
		out := "inventPositions[" + m[1] + "]"
		if m[2] != "" {
			f, ok := itemFields[m[2]]
			if !ok {
				f = m[2]
			}
			out += "." + f
		}
		return out
	}
	if rest, ok := strings.CutPrefix(p, "seller."); ok {
		return "retailPoint." + rest // the cloud's own data: not the shop's to fix
	}
	head, _, _ := strings.Cut(p, ".")
	head, _, _ = strings.Cut(head, "[")
	if f, ok := receiptFields[head]; ok {
		return f
	}
	return p
}
