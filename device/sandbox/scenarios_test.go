package sandbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/openkassa/kassa/device"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/devicetest"
	"github.com/openkassa/kassa/fiscal"
)

// The receipts the shops really send, end to end through the sandbox: shop JSON →
// cloud → register → drive → OFD, each checked in the drive's signed document, in
// the OFD emulator's copy, in fiscalInfo, and in the ledger.
func TestShopScenarios(t *testing.T) {
	dir := t.TempDir()
	app, stop := startApp(t, dir)
	defer stop()
	var sb File
	b, _ := os.ReadFile(filepath.Join(dir, "sandbox.json"))
	if err := json.Unmarshal(b, &sb); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kettle := func(method string) map[string]any {
		return map[string]any{"name": "Чайник", "price": 1990.00, "quantity": 1, "vatTag": 1102, "paymentMethod": method}
	}
	doc := func(id, docType string, positions []map[string]any, payments ...map[string]any) map[string]any {
		return map[string]any{"id": id, "docType": docType, "email": "+79161234567",
			"inventPositions": positions, "moneyPositions": payments}
	}
	pay := func(kind string, sum float64) map[string]any { return map[string]any{"paymentType": kind, "sum": sum} }

	// fiscalize posts a document, waits for its end state and returns the signed document.
	fiscalize := func(d map[string]any, want cloud.DocState) (*cloud.DocumentStatus, *fiscal.Document) {
		t.Helper()
		id := d["id"].(string)
		if code := devicetest.PostDoc(t, sb.Cloud, sb.Login, sb.Password, d); code != 200 {
			t.Fatalf("%s: POST %d", id, code)
		}
		var st cloud.DocumentStatus
		devicetest.WaitFor(t, id+" settled", 10*time.Second, func() bool {
			st = devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, id)
			return st.Status == cloud.Completed || st.Status == cloud.Failed
		})
		if st.Status != want {
			t.Fatalf("%s: %s (%s), want %s", id, st.Status, st.Message, want)
		}
		if st.FiscalInfo == nil {
			return &st, nil
		}
		a, err := app.Drive.Document(ctx, uint32(st.FiscalInfo.FNDocNumber))
		if err != nil {
			t.Fatal(err)
		}
		signed, err := fiscal.Decode(a.TLV)
		if err != nil {
			t.Fatal(err)
		}
		if err := signed.CheckRequired(); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return &st, signed
	}
	item := func(d *fiscal.Document) fiscal.Elements { return d.Elements.All(fiscal.TagItem)[0].Children }
	money := func(es fiscal.Elements, tag fiscal.Tag) int64 { v, _ := es.Money(tag); return v }
	num := func(es fiscal.Elements, tag fiscal.Tag) uint64 { v, _ := es.Uint(tag); return v }

	// 1. A 100% prepayment by card, then the closing receipt at hand-over, paid by the prepayment.
	_, pre := fiscalize(doc("prepay", "SALE", []map[string]any{kettle("full_prepayment")}, pay("CARD", 1990)), cloud.Completed)
	if num(pre.Elements, 1108) != 1 {
		t.Fatal("an online shop's receipt lacks the internet flag (1108)")
	}
	if num(item(pre), 1214) != 1 || money(pre.Elements, 1081) != 199000 {
		t.Fatalf("prepayment: 1214=%d 1081=%d", num(item(pre), 1214), money(pre.Elements, 1081))
	}
	_, closing := fiscalize(doc("closing", "SALE", []map[string]any{kettle("full_payment")}, pay("PREPAID", 1990)), cloud.Completed)
	if num(item(closing), 1214) != 4 || money(closing.Elements, 1215) != 199000 || money(closing.Elements, 1081) != 0 {
		t.Fatal("closing receipt: 1214 or 1215 wrong")
	}
	// The sandbox's clock is the real one, so the rate of vatTag 1102 follows the
	// receipt's own date (1012): from 2026, 22 %: 1990.00 × 22/122 = 358.852… →
	// 358.85 in 1115 {1119}; before, 20 %: 1990.00 × 20/120 = 331.666… → 331.67 in 1102.
	byRate, _ := closing.Elements.Get(fiscal.TagVATSums)
	sum := byRate.Children.All(fiscal.TagVATSumByRate)
	if at, _ := closing.Elements.Time(fiscal.TagDateTime); at.Year() >= 2026 {
		if len(sum) != 1 || num(sum[0].Children, 1199) != 11 || money(sum[0].Children, 1120) != 35885 || money(closing.Elements, 1102) != 0 {
			t.Fatalf("VAT 22%% of 1990.00 on %s: 1115 %+v, 1102 %d", at, byRate, money(closing.Elements, 1102))
		}
	} else if len(sum) != 0 || money(closing.Elements, 1102) != 33167 {
		t.Fatalf("VAT 20%% of 1990.00 on %s: 1115 %+v, 1102 %d", at, byRate, money(closing.Elements, 1102))
	}

	// 2. On behalf of a supplier.
	agent := kettle("full_payment")
	agent["agentInfo"] = map[string]any{"types": []string{"commission_agent"}}
	agent["supplierInfo"] = map[string]any{"name": "ООО Поставщик", "inn": "7707083893", "phones": []string{"+74951234567"}}
	_, ag := fiscalize(doc("agent", "SALE", []map[string]any{agent}, pay("CARD", 1990)), cloud.Completed)
	if num(item(ag), 1222) != 1<<5 {
		t.Fatalf("1222 = %d, want commission agent (32)", num(item(ag), 1222))
	}
	if inn, _ := item(ag).String(1226); inn != "7707083893  " {
		t.Fatalf("1226 = %q", inn)
	}
	sup, ok := item(ag).Get(1224)
	if name, _ := sup.Children.String(1225); !ok || name != "ООО Поставщик" {
		t.Fatalf("1224/1225 = %q", name)
	}

	// 3. Marked goods: the DataMatrix as scanned becomes 1162 (FFD105.md's vector).
	marked := kettle("full_payment")
	marked["productMark"] = "010460043993125621JgXJ5.T\u001d8005112000\u001d930001\u001d923zbrLA==\u001d24014276281"
	_, mk := fiscalize(doc("marked", "SALE", []map[string]any{marked}, pay("CARD", 1990)), cloud.Completed)
	code, _ := item(mk).Bytes(1162)
	if want, _ := hex.DecodeString("444D042F1F9681784A67584A352E54313132303030"); !bytes.Equal(code, want) {
		t.Fatalf("1162 = % X", code)
	}

	// 4. Card + prepaid bonus + cash in one receipt.
	_, mixed := fiscalize(doc("mixed", "SALE", []map[string]any{kettle("full_payment")},
		pay("CARD", 1000), pay("PREPAID", 490), pay("CASH", 500)), cloud.Completed)
	if money(mixed.Elements, 1081) != 100000 || money(mixed.Elements, 1215) != 49000 || money(mixed.Elements, 1031) != 50000 {
		t.Fatal("mixed payment sums wrong")
	}

	// 5. Returns: cash back only while the drawer holds it (500.00 came in by cash above).
	_, ret := fiscalize(doc("return-ok", "RETURN", []map[string]any{{"name": "Чайник", "price": 300.00, "quantity": 1, "vatTag": 1102}},
		pay("CASH", 300)), cloud.Completed)
	if num(ret.Elements, 1054) != 2 {
		t.Fatal("return: 1054 is not 2")
	}
	tooMuch, _ := fiscalize(doc("return-big", "RETURN", []map[string]any{{"name": "Чайник", "price": 1990.00, "quantity": 1, "vatTag": 1102}},
		pay("CASH", 1990)), cloud.Failed)
	if tooMuch.FailureInfo == nil || tooMuch.FiscalInfo != nil {
		t.Fatalf("a cash refund over the drawer: %+v", tooMuch)
	}

	// 6. A correction receipt for a sale that was never fiscalized.
	corr := doc("correction", "SALE_CORRECTION", []map[string]any{{"name": "Чайник", "price": 1990.00, "quantity": 1, "vatTag": 1102}}, pay("CASH", 1990))
	corr["correction"] = map[string]any{"type": "SELF", "baseName": "Акт о неприменении ККТ", "baseDate": "2026-11-20", "baseNumber": "17"}
	corr["cashierName"] = "Иванова А." // 1021 is required on a correction receipt
	cst, cd := fiscalize(corr, cloud.Completed)
	if cd.Type != fiscal.DocCorrection || cst.FiscalInfo.CheckType != "SALE_CORRECTION" || num(cd.Elements, 1173) != 0 {
		t.Fatalf("correction: type %d, checkType %s", cd.Type, cst.FiscalInfo.CheckType)
	}
	if len(cd.Elements.All(fiscal.TagItem)) != 0 {
		t.Fatal("a correction receipt under FFD 1.05 carries items")
	}

	// 7. The failed refund, re-queued once the drawer holds enough, is fiscalized once.
	if _, _, err := device.CallConsole(sb.Socket, []string{"cash", "in", "1000"}); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", sb.Cloud+"/api/fn/v1/doc/return-big/re-queue", nil)
	req.SetBasicAuth(sb.Login, sb.Password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("re-queue: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	var st cloud.DocumentStatus
	devicetest.WaitFor(t, "the re-queued refund", 10*time.Second, func() bool {
		st = devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, "return-big")
		return st.Status == cloud.Completed
	})

	// The OFD holds every receipt the drive signed; the ledger adds up.
	devicetest.WaitFor(t, "the OFD's acknowledgements", 10*time.Second, func() bool {
		s, err := app.Drive.State(ctx)
		return err == nil && s.Unsent == 0
	})
	for _, id := range []string{"prepay", "closing", "agent", "marked", "mixed", "return-ok", "correction", "return-big"} {
		fi := devicetest.DocStatus(t, sb.Cloud, sb.Login, sb.Password, id).FiscalInfo
		if _, found, err := app.Sandbox.OFD.Document(fi.FNNumber, uint32(fi.FNDocNumber)); !found || err != nil {
			t.Fatalf("%s: FD %d not at the OFD (%v)", id, fi.FNDocNumber, err)
		}
	}
	l, err := app.Store.Ledger()
	if err != nil {
		t.Fatal(err)
	}
	// Cash: +500 (mixed) −300 (return) +1990 (correction, приход) +1000 (cash in) −1990 (re-queued refund).
	if l.CashBalance != 500_00-300_00+1990_00+1000_00-1990_00 {
		t.Fatalf("drawer %d", l.CashBalance)
	}
	if l.ShiftTotals.Count[0] != 6 || l.ShiftTotals.Count[1] != 2 || l.ShiftTotals.Corrections[0] != 1 {
		t.Fatalf("shift counters: %+v", l.ShiftTotals)
	}
	if err := app.Store.Check(); err != nil {
		t.Fatal(err)
	}
}
