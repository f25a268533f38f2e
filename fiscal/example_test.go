package fiscal_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/openkassa/kassa/fiscal"
)

func exampleReceipt() *fiscal.Receipt {
	return &fiscal.Receipt{
		Seller: fiscal.Seller{Name: "ООО Ромашка", INN: "7707083893", Address: "Москва, ул. Ленина, 1",
			Place: "shop.example", TaxSystems: fiscal.TaxSimpleIncome, RegNumber: "0000000001029375"},
		Sign:      fiscal.Income,
		TaxSystem: fiscal.TaxSimpleIncome,
		Items: []fiscal.Item{{
			Name: "Чайник", Price: 199000, Quantity: fiscal.Quantity{Value: 1},
			Sum: fiscal.ItemSum(199000, fiscal.Quantity{Value: 1}), VAT: fiscal.VAT20, VATSum: -1, Subject: 1, Method: 4,
		}},
		Payments:     fiscal.Payments{Electronic: 199000},
		BuyerContact: "buyer@example.com",
	}
}

// The register validates a receipt and writes its elements; the drive then adds
// its numbers and signs the document.
func ExampleReceipt_AppendTLV() {
	r := exampleReceipt()
	if err := r.Validate(); err != nil {
		fmt.Println(err)
		return
	}
	buf, err := r.AppendTLV(make([]byte, 0, 512))
	if err != nil {
		fmt.Println(err)
		return
	}
	els, _ := fiscal.SplitElements(buf)
	for _, e := range els[:3] {
		fmt.Printf("%d: % X\n", e.Tag, e.Value)
	}
	fmt.Println("VAT 20%:", fiscal.VAT(r.Total(), fiscal.VAT20))

	r.Payments.Electronic = 100
	fmt.Println(r.Validate())
	// Output:
	// 1000: 8A 80 91 91 8E 82 9B 89 20 97 85 8A
	// 1209: 02
	// 1048: 8E 8E 8E 20 90 AE AC A0 E8 AA A0
	// VAT 20%: 33167
	// payments: payments sum to 100, the total is 199000
}

// A document read back from the drive's archive, decoded for the printer or `kassa doc`.
func ExampleDecode() {
	body, _ := exampleReceipt().AppendTLV(nil)
	body = fiscal.AppendUint32(body, 1040, 17)
	body, _ = fiscal.AppendString(body, 1041, "9999078900012345")
	body = fiscal.AppendTime(body, 1012, time.Date(2026, 11, 22, 12, 24, 0, 0, time.FixedZone("MSK", 3*3600)))
	body = fiscal.AppendUint32(body, 1038, 1)
	body = fiscal.AppendUint32(body, 1042, 5)
	body = fiscal.AppendTLV(body, 1077, fiscal.FiscalSignValue(fiscal.FiscalSign([]byte("key"), body)))
	doc, mark := fiscal.BeginSTLV(nil, fiscal.DocReceipt)
	doc = fiscal.EndSTLV(append(doc, body...), mark)

	d, err := fiscal.Decode(doc)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("complete:", d.CheckRequired())
	fd, _ := d.Uint(1040)
	total, _ := d.Money(1020)
	when, _ := d.Time(1012)
	inn, _ := d.String(1018)
	fmt.Printf("ФД %d, %d.%02d ₽, %s, ИНН %s\n", fd, total/100, total%100, when.Format(fiscal.TimeLayout), strings.TrimSpace(inn))
	item := d.All(1059)[0]
	j, _ := json.Marshal(item.Children[:3])
	fmt.Println(string(j))

	_, err = fiscal.Decode(doc[:len(doc)-1])
	fmt.Println(err)
	// Output:
	// complete: <nil>
	// ФД 17, 1990.00 ₽, 2026-11-22T12:24:00, ИНН 7707083893
	// [{"tag":1030,"name":"наименование предмета расчёта","value":"Чайник"},{"tag":1079,"name":"цена за единицу","value":199000},{"tag":1023,"name":"количество предмета расчёта","value":"1"}]
	// fiscal: truncated TLV: tag 3 at offset 0 states 299 bytes, 298 left
}
