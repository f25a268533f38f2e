package fiscal

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"time"
)

// unhex reads hex written with spaces, newlines and // comments.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "//"); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex in test: %v", err)
	}
	return b
}

// testReceipt is a sale with 3 items (20%, 10% by weight, no VAT) paid in cash and by card.
func testReceipt() *Receipt {
	return &Receipt{
		Seller: Seller{
			Name: "ООО Ромашка", INN: "7707083893", Address: "Москва", Place: "shop.example",
			TaxSystems: TaxGeneral | TaxSimpleIncome, RegNumber: "0000000001029375",
			Email: "kassa@shop.example", Internet: true,
		},
		Sign:      Income,
		TaxSystem: TaxSimpleIncome,
		Items: []Item{
			{Name: "Чай", Price: 15000, Quantity: Quantity{Value: 2}, Sum: 30000, VAT: VAT20, VATSum: -1, Subject: 1, Method: 4},
			{Name: "Сахар", Price: 8990, Quantity: Quantity{Value: 15, Decimals: 1}, Sum: 13485, VAT: VAT10, VATSum: -1, Subject: 1, Method: 4, Unit: "кг"},
			{Name: "Доставка", Price: 30000, Quantity: Quantity{Value: 1}, Sum: 30000, VAT: VATNone, VATSum: -1, Subject: 4, Method: 4},
		},
		Payments:     Payments{Cash: 10000, Electronic: 63485},
		Cashier:      "Иванова А.",
		CashierINN:   "500100732259",
		BuyerContact: "+79161234567",
		ShopID:       "ord-1",
	}
}

// testReceiptTLV is testReceipt's elements, written out by hand from FFD105.md:
// tag and length little-endian, strings in CP866, money as VLN.
const testReceiptTLV = `
E8 03 0C 00 8A 80 91 91 8E 82 9B 89 20 97 85 8A  // 1000 "КАССОВЫЙ ЧЕК"
B9 04 01 00 02                                    // 1209 FFD 1.05
18 04 0B 00 8E 8E 8E 20 90 AE AC A0 E8 AA A0      // 1048 "ООО Ромашка"
FA 03 0C 00 37 37 30 37 30 38 33 38 39 33 20 20   // 1018 INN padded to 12
F1 03 06 00 8C AE E1 AA A2 A0                     // 1009 "Москва"
A3 04 0C 00 73 68 6F 70 2E 65 78 61 6D 70 6C 65   // 1187 "shop.example"
0D 04 14 00 30 30 30 30 30 30 30 30 30 31         // 1037, 20 bytes: 10 digits,
            30 32 39 33 37 35 20 20 20 20         //   6 check digits, 4 spaces
1E 04 01 00 01                                    // 1054 приход
1F 04 01 00 02                                    // 1055 УСН доход
23 04 28 00                                       // 1059 item 1, 40 bytes
   06 04 03 00 97 A0 A9                           //   1030 "Чай"
   37 04 02 00 98 3A                              //   1079 150.00
   FF 03 02 00 00 02                              //   1023 2 (0 decimals)
   13 04 02 00 30 75                              //   1043 300.00
   AF 04 01 00 01                                 //   1199 20%
   BE 04 01 00 04                                 //   1214 full settlement
   BC 04 01 00 01                                 //   1212 goods
23 04 30 00                                       // 1059 item 2, 48 bytes
   06 04 05 00 91 A0 E5 A0 E0                     //   1030 "Сахар"
   37 04 02 00 1E 23                              //   1079 89.90
   FF 03 02 00 01 0F                              //   1023 1.5
   13 04 02 00 AD 34                              //   1043 134.85
   AF 04 01 00 02                                 //   1199 10%
   BE 04 01 00 04                                 //   1214
   BC 04 01 00 01                                 //   1212
   AD 04 02 00 AA A3                              //   1197 "кг"
23 04 2D 00                                       // 1059 item 3, 45 bytes
   06 04 08 00 84 AE E1 E2 A0 A2 AA A0            //   1030 "Доставка"
   37 04 02 00 30 75                              //   1079 300.00
   FF 03 02 00 00 01                              //   1023 1
   13 04 02 00 30 75                              //   1043 300.00
   AF 04 01 00 06                                 //   1199 no VAT
   BE 04 01 00 04                                 //   1214
   BC 04 01 00 04                                 //   1212 service
FC 03 03 00 0D 1F 01                              // 1020 total 734.85
07 04 02 00 10 27                                 // 1031 cash 100.00
39 04 02 00 FD F7                                 // 1081 card 634.85
BF 04 01 00 00                                    // 1215 prepaid 0
C0 04 01 00 00                                    // 1216 credit 0
C1 04 01 00 00                                    // 1217 other 0
4E 04 02 00 88 13                                 // 1102 VAT 20%: 300.00/6 = 50.00
4F 04 02 00 CA 04                                 // 1103 VAT 10%: 134.85/11 = 12.259 → 12.26
51 04 02 00 30 75                                 // 1105 sum without VAT 300.00
FD 03 0A 00 88 A2 A0 AD AE A2 A0 20 80 2E         // 1021 "Иванова А."
B3 04 0C 00 35 30 30 31 30 30 37 33 32 32 35 39   // 1203 cashier INN
F0 03 0C 00 2B 37 39 31 36 31 32 33 34 35 36 37   // 1008 "+79161234567"
5D 04 12 00 6B 61 73 73 61 40 73 68 6F 70 2E 65   // 1117 "kassa@shop.example"
            78 61 6D 70 6C 65
3C 04 0F 00                                       // 1084, 15 bytes
   3D 04 02 00 69 64                              //   1085 "id"
   3E 04 05 00 6F 72 64 2D 31                     //   1086 "ord-1"
54 04 01 00 01                                    // 1108 internet register
`

func TestReceiptAppendTLV(t *testing.T) {
	r := testReceipt()
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	prefix := []byte{0xAA}
	got, err := r.AppendTLV(prefix)
	if err != nil {
		t.Fatalf("AppendTLV: %v", err)
	}
	want := append([]byte{0xAA}, unhex(t, testReceiptTLV)...)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendTLV:\n got %X\nwant %X\nfirst difference at byte %d", got, want, firstDiff(got, want))
	}
	if r.Total() != 73485 {
		t.Errorf("Total = %d, want 73485", r.Total())
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

func TestCorrectionAppendTLV(t *testing.T) {
	r := testReceipt()
	r.Cashier, r.CashierINN, r.BuyerContact, r.ShopID = "Петров", "", "", ""
	r.Seller.Internet = false
	r.Items = r.Items[:1]
	r.Payments = Payments{Electronic: 30000}
	r.Correction = &Correction{ByOrder: true, Name: "Акт", Date: mustDate(t, "2026-11-20"), Number: "7"}
	if err := r.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	got, err := r.AppendTLV(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := unhex(t, `
E8 03 16 00 8A 80 91 91 8E 82 9B 89 20 97 85 8A   // 1000 "КАССОВЫЙ ЧЕК КОРРЕКЦИИ"
            20 8A 8E 90 90 85 8A 96 88 88
B9 04 01 00 02                                    // 1209
18 04 0B 00 8E 8E 8E 20 90 AE AC A0 E8 AA A0      // 1048
FA 03 0C 00 37 37 30 37 30 38 33 38 39 33 20 20   // 1018
F1 03 06 00 8C AE E1 AA A2 A0                     // 1009
A3 04 0C 00 73 68 6F 70 2E 65 78 61 6D 70 6C 65   // 1187
0D 04 14 00 30 30 30 30 30 30 30 30 30 31         // 1037
            30 32 39 33 37 35 20 20 20 20
1E 04 01 00 01                                    // 1054 коррекция прихода
1F 04 01 00 02                                    // 1055
95 04 01 00 01                                    // 1173 by order
96 04 14 00                                       // 1174, 20 bytes
   99 04 03 00 80 AA E2                           //   1177 "Акт"
   9A 04 04 00 80 8D FF 6A                        //   1178 2026-11-20 00:00 = 1795132800
   9B 04 01 00 37                                 //   1179 "7"
FC 03 02 00 30 75                                 // 1020 300.00 (no 1059 in a correction)
07 04 01 00 00                                    // 1031
39 04 02 00 30 75                                 // 1081
BF 04 01 00 00                                    // 1215
C0 04 01 00 00                                    // 1216
C1 04 01 00 00                                    // 1217
4E 04 02 00 88 13                                 // 1102 50.00
FD 03 06 00 8F A5 E2 E0 AE A2                     // 1021 "Петров", required on a correction
`)
	if !bytes.Equal(got, want) {
		t.Fatalf("AppendTLV:\n got %X\nwant %X\nfirst difference at byte %d", got, want, firstDiff(got, want))
	}
}

func mustDate(t testing.TB, s string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestItemSum(t *testing.T) {
	cases := []struct {
		name  string
		price int64
		q     Quantity
		want  int64
	}{
		{"whole", 15000, Quantity{Value: 2}, 30000},
		{"half up", 8990, Quantity{Value: 15, Decimals: 1}, 13485},
		{"weight rounds half up", 333, Quantity{Value: 1500, Decimals: 3}, 500}, // 499.5 → 500
		{"weight rounds down", 333, Quantity{Value: 1499, Decimals: 3}, 499},    // 499.167
		{"tiny", 1, Quantity{Value: 1, Decimals: 3}, 0},
		{"zero price", 0, Quantity{Value: 5}, 0},
		{"negative price", -1, Quantity{Value: 1}, -1},
		{"overflow", 1 << 62, Quantity{Value: 1 << 20}, -1},
		{"too many decimals", 100, Quantity{Value: 1, Decimals: 20}, -1},
	}
	for _, c := range cases {
		if got := ItemSum(c.price, c.q); got != c.want {
			t.Errorf("%s: ItemSum(%d, %v) = %d, want %d", c.name, c.price, c.q, got, c.want)
		}
	}
}

func TestVAT(t *testing.T) {
	cases := []struct {
		sum  int64
		rate VATRate
		want int64
	}{
		{12000, VAT20, 2000},
		{12000, VAT20120, 2000},
		{3, VAT20, 1},   // 0.5 rounds away from zero
		{2, VAT20, 0},   // 0.333
		{-3, VAT20, -1}, // half away from zero, both ways
		{11000, VAT10, 1000},
		{13485, VAT10110, 1226}, // 1225.909
		{1000, VAT0, 0},
		{1000, VATNone, 0},
		{100, VATRate(13), 0},
		{199000, VAT22, 35885},  // 35885.25
		{12200, VAT22122, 2200}, // 22/122 exactly
		{100, VAT22, 18},        // 18.03
		{1000, VAT5, 48},        // 47.62
		{10500, VAT5105, 500},
		{1000, VAT7, 65}, // 65.42
		{10700, VAT7107, 700},
		{-1000, VAT7107, -65},
	}
	for _, c := range cases {
		if got := VAT(c.sum, c.rate); got != c.want {
			t.Errorf("VAT(%d, %d) = %d, want %d", c.sum, c.rate, got, c.want)
		}
	}
}

func benchReceipt(n int) *Receipt {
	r := testReceipt()
	r.Items = r.Items[:0]
	r.Payments = Payments{}
	for i := range n {
		it := testReceipt().Items[i%3]
		r.Items = append(r.Items, it)
		r.Payments.Electronic += it.Sum
	}
	return r
}

func BenchmarkEncodeReceipt10(b *testing.B) {
	r := benchReceipt(10)
	if err := r.Validate(); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = r.AppendTLV(buf[:0]); err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkValidateReceipt10(b *testing.B) {
	r := benchReceipt(10)
	b.ReportAllocs()
	for b.Loop() {
		if err := r.Validate(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestVATSums2026 writes the receipt-level sums of the new rates into 1115 by
// hand from FFD105.md ("VAT since 2025–2026").
func TestVATSums2026(t *testing.T) {
	item := func(sum int64, rate VATRate) Item { return Item{Sum: sum, VAT: rate, VATSum: -1} }
	cases := []struct {
		name  string
		items []Item
		want  string
	}{
		{"22% and 22/122 only", []Item{item(199000, VAT22), item(12200, VAT22122)}, `
			50 04 01 00 00             // 1104 = 0: no flat sum otherwise
			5B 04 1E 00                // 1115, 30 bytes
			  5F 04 0B 00              //   1119
			    AF 04 01 00 0B         //     1199 = 11 (22%)
			    60 04 02 00 2D 8C      //     1120 = 358.85 (1990.00 × 22 / 122)
			  5F 04 0B 00              //   1119
			    AF 04 01 00 0C         //     1199 = 12 (22/122)
			    60 04 02 00 98 08      //     1120 = 22.00`},
		{"20% beside 5% and 7/107", []Item{item(12000, VAT20), item(10500, VAT5), item(10700, VAT7107)}, `
			4E 04 02 00 D0 07          // 1102 = 20.00
			5B 04 1E 00                // 1115
			  5F 04 0B 00 AF 04 01 00 07 60 04 02 00 F4 01  // 5% → 5.00
			  5F 04 0B 00 AF 04 01 00 0A 60 04 02 00 BC 02  // 7/107 → 7.00`},
		{"old rates alone stay flat", []Item{item(12000, VAT20120), item(500, VATNone)}, `
			52 04 02 00 D0 07          // 1106 = 20.00 (rate 3 comes first)
			51 04 02 00 F4 01          // 1105 = 5.00 without VAT`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Receipt{Items: c.items}
			got, err := r.appendVATSums(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, c.want); !bytes.Equal(got, want) {
				t.Errorf("got  % X\nwant % X", got, want)
			}
		})
	}
}
