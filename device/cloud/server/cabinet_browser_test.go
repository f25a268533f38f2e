package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/device/cloud/cloudtest"
)

// chromium finds the browser: skipped without one, unless CI demands it.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium binary on PATH, and CI=true requires the browser tests (apt-get install chromium)")
	}
	t.Skip("no chromium binary on PATH: browser tests skipped (apt-get install chromium to run them)")
	return ""
}

// browser starts headless Chromium with a new empty profile.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	return ctx
}

func run(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// text reads an element's visible text.
func text[S chromedp.Selectable](t *testing.T, ctx context.Context, sel S) string {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Text(sel))
	if err != nil {
		t.Fatalf("text of %v: %v", sel, err)
	}
	return v
}

// shot takes a screenshot; with KASSA_CABINET_SHOTS set it is kept there.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot %s is not a PNG", name)
	}
	if dir := os.Getenv("KASSA_CABINET_SHOTS"); dir != "" {
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestCabinetBrowser(t *testing.T) {
	ctx := browser(t)
	f := newFixture(t, Config{})
	// The cloud's clock stays at its fixed date, whatever the real one: the
	// browser keeps the session cookie by its Max-Age.
	base := f.http.URL + "/cabinet/"

	// A wrong password is refused.
	run(t, ctx, "wrong password",
		chromedp.Navigate(base+"login"),
		chromedp.SendKeys(chromedp.ID("login"), f.sb.CabinetLogin),
		chromedp.SendKeys(chromedp.ID("password"), "не тот пароль"),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("error")))
	if msg := text(t, ctx, chromedp.ID("error")); !strings.Contains(msg, "Неверный логин или пароль") {
		t.Fatalf("wrong password: %q", msg)
	}
	run(t, ctx, "log in",
		chromedp.SetValue(chromedp.ID("password"), f.sb.CabinetPassword),
		chromedp.Click(chromedp.ID("submit")),
		chromedp.WaitVisible(chromedp.ID("registers")))

	// The owner puts the point in Yekaterinburg's zone (UTC+5): the cabinet
	// shows the point's times there.
	pid := f.sb.RetailPointID
	run(t, ctx, "time zone",
		chromedp.Navigate(base+"points"),
		chromedp.SetValue(chromedp.ID("tz-"+pid), "Asia/Yekaterinburg"),
		chromedp.Click(chromedp.CSS("#point-"+pid+" form.settings button[type=submit]")),
		chromedp.WaitVisible(chromedp.ID("flash")))

	// A receipt: posted, then the register plays its part over the register API.
	f.post(withID("web-1"))
	docURL := base + "documents/" + pid + "/web-1"
	run(t, ctx, "queued", chromedp.Navigate(docURL))
	if state := text(t, ctx, chromedp.ID("doc-state")); state != "в очереди" {
		t.Fatalf("posted document shows %q, want the Russian word", state)
	}
	if kind, cb := text(t, ctx, chromedp.ID("doc-kind")), text(t, ctx, chromedp.ID("doc-callback")); kind != "приход" || cb != "не запрошено" {
		t.Fatalf("posted document: type %q, callback %q", kind, cb)
	}
	f.fiscalize("web-1", 11, 203500)
	h := health(f.clock.Now())
	h.Drive.LastFD, h.WaitingForOFD, h.OldestUnsentAt = 11, 1, f.clock.Now()
	if _, err := f.client().SendHeartbeat(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "completed", chromedp.Navigate(docURL))
	if state, ofd := text(t, ctx, chromedp.ID("doc-state")), text(t, ctx, chromedp.ID("doc-ofd")); state != "выполнен" || !strings.HasPrefix(ofd, "не доставлен") {
		t.Fatalf("fiscalized document shows %q, OFD %q", state, ofd)
	}
	f.clock.Advance(30 * time.Second)
	h.OFDAckedThrough, h.WaitingForOFD, h.OldestUnsentAt = 11, 0, time.Time{}
	if _, err := f.client().SendHeartbeat(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "delivered", chromedp.Navigate(docURL), chromedp.WaitVisible(chromedp.ID("qr")))
	if page := text(t, ctx, chromedp.CSS("main")); !strings.Contains(page, "Чек фискализирован") || strings.Contains(page, "COMPLETED") || strings.Contains(page, "successfully") {
		t.Fatalf("fiscalized document's page speaks English: %q", page)
	}
	// Delivered at 10:00:30 UTC: 15:00 in Yekaterinburg, in Russian format
	// whatever the browser's locale.
	if ofd := text(t, ctx, chromedp.ID("doc-ofd")); ofd != "доставлен, квитанция 23.11.2026 15:00" {
		t.Fatalf("acknowledged document shows OFD %q", ofd)
	}
	shot(t, ctx, "cabinet-document.png")

	// A receipt the OFD has not acknowledged for 3 hours is listed under "more than 2 h".
	f.post(withID("web-late"))
	f.fiscalize("web-late", 12, 203500)
	f.clock.Advance(3 * time.Hour)
	h = health(f.clock.Now())
	h.OFDAckedThrough, h.WaitingForOFD, h.OldestUnsentAt = 11, 1, f.clock.Now().Add(-3*time.Hour)
	h.Drive.Warnings = []string{"ресурс накопителя: осталось 30 дней"}
	if _, err := f.client().SendHeartbeat(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "undelivered filter",
		chromedp.Navigate(base+"documents"),
		chromedp.SetValue(chromedp.ID("f-undelivered"), "2"),
		chromedp.Click(chromedp.ID("f-apply")))
	// The unfiltered page has the table too: wait for the filtered one.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
		if err == nil && strings.Contains(loc, "undelivered=2") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the filter did not load: location %q, %v", loc, err)
		}
	}
	run(t, ctx, "filtered", chromedp.WaitVisible(chromedp.ID("documents")))
	rows, count := text(t, ctx, chromedp.CSS("#documents tbody")), text(t, ctx, chromedp.ID("count"))
	if count != "1" || !strings.Contains(rows, "web-late") || strings.Contains(rows, "web-1") {
		t.Fatalf("undelivered > 2 h: count %q, rows %q", count, rows)
	}

	// A return: its type is named and its sum is money out.
	f.post(cloudtest.Doc(func(m map[string]any) {
		m["id"], m["docType"] = "web-ret", "RETURN"
		m["inventPositions"] = []any{map[string]any{"name": "Сахар", "price": 45, "quantity": 1, "vatTag": 1103}}
		m["moneyPositions"] = []any{map[string]any{"paymentType": "CASH", "sum": 45}}
	}))
	f.fiscalizeAs("web-ret", 13, 4500, "RETURN")
	run(t, ctx, "documents", chromedp.Navigate(base+"documents"), chromedp.WaitVisible(chromedp.ID("documents")))
	cells := func(id string) []string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#documents tr[data-id="`+id+`"] td')).map(td => td.innerText.trim())`))
		if err != nil {
			t.Fatalf("row %s: %v", id, err)
		}
		return v
	}
	// ID, point, type, state, taken, sum, FD, ФПД, OFD, callback.
	ret, sale := cells("web-ret"), cells("web-1")
	if len(ret) != 10 || ret[2] != "возврат прихода" || ret[5] != "−45,00" || !strings.HasPrefix(ret[3], "выполнен") {
		t.Fatalf("return's row %q", ret)
	}
	if len(sale) != 10 || sale[2] != "приход" || sale[5] != "2035,00" || sale[4] != "23.11.2026 15:00" || sale[9] != "не запрошено" {
		t.Fatalf("sale's row %q", sale)
	}
	if head := text(t, ctx, chromedp.CSS("#documents thead")); strings.Contains(head, "Уведомление\t") || !strings.Contains(head, "Уведомление магазина") {
		t.Fatalf("documents' header %q", head)
	}
	shot(t, ctx, "cabinet-documents.png")
	// A day typed the Russian way filters by the point's days.
	run(t, ctx, "day filter",
		chromedp.SetValue(chromedp.ID("f-from"), "24.11.2026"),
		chromedp.Click(chromedp.ID("f-apply")),
		chromedp.WaitVisible(chromedp.CSS("#documents tbody")))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		loc, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.search`))
		if err == nil && strings.Contains(loc, "from=24.11.2026") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the day filter did not load: location %q, %v", loc, err)
		}
	}
	if count := text(t, ctx, chromedp.ID("count")); count != "0" {
		t.Fatalf("documents from 24.11.2026 (Yekaterinburg): %s", count)
	}

	// Today's and this shift's totals: two sales of 2035,00 (1990,00 by card
	// and 45,00 cash each) and a return of 45,00 cash.
	run(t, ctx, "totals", chromedp.Navigate(base+"totals"), chromedp.WaitVisible(chromedp.ID("totals-"+pid)))
	for _, period := range []string{"today", "shift"} {
		sel := "#totals-" + pid + " ." + period + " "
		got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('`+sel+`tr')).map(tr => tr.innerText.replace(/\s+/g, ' ').trim())`))
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"Тип чека Чеков Сумма, ₽", "приход 2 4070,00", "возврат прихода 1 −45,00", "Выручка 3 4025,00",
			"наличными 45,00", "безналичными 3980,00"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("%s's totals:\n%q\nwant\n%q", period, got, want)
		}
	}
	if title := text(t, ctx, chromedp.CSS("#totals-"+pid+" .shift h3")); title != "Смена № 1 (открыта)" {
		t.Errorf("shift's title %q", title)
	}
	if title := text(t, ctx, chromedp.CSS("#totals-"+pid+" .today h3")); title != "Сегодня, 23.11.2026" {
		t.Errorf("today's title %q", title)
	}
	shot(t, ctx, "cabinet-totals.png")

	// Regenerate credentials: the old pair is refused at once.
	sel := "#point-" + f.sb.RetailPointID + " .regenerate"
	run(t, ctx, "credentials",
		chromedp.Navigate(base+"points"),
		chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.ID("issued-login")))
	login1, pass1 := text(t, ctx, chromedp.ID("issued-login")), text(t, ctx, chromedp.ID("issued-password"))
	if code, _ := f.call("GET", "/api/fn/v1/status", login1, pass1, nil); code != http.StatusOK {
		t.Fatalf("issued pair: HTTP %d", code)
	}
	run(t, ctx, "regenerate", chromedp.Navigate(base+"points"), chromedp.Click(chromedp.CSS(sel)), chromedp.WaitVisible(chromedp.ID("issued-login")))
	login2, pass2 := text(t, ctx, chromedp.ID("issued-login")), text(t, ctx, chromedp.ID("issued-password"))
	if code, _ := f.call("GET", "/api/fn/v1/status", login1, pass1, nil); code != http.StatusUnauthorized || login2 == login1 {
		t.Fatalf("old pair after regenerate: HTTP %d (logins %s, %s)", code, login1, login2)
	}
	if code, _ := f.call("GET", "/api/fn/v1/status", login2, pass2, nil); code != http.StatusOK {
		t.Fatalf("new pair: HTTP %d", code)
	}

	run(t, ctx, "registers", chromedp.Navigate(base+"registers"))
	if regs := text(t, ctx, chromedp.ID("registers")); !strings.Contains(regs, "работает") || strings.Contains(regs, "READY") || !strings.Contains(regs, "9999078900001234") || !strings.Contains(regs, "не отправлено: 1") {
		t.Fatalf("registers page: %q", regs)
	}

	// An X report from the cabinet: the register gets it in the answer to its
	// heartbeat and sends its totals back in the next one.
	run(t, ctx, "X report", chromedp.Click(chromedp.CSS("#reg-"+pid+" .x-report")), chromedp.WaitVisible(chromedp.ID("flash")))
	resp, err := f.client().SendHeartbeat(context.Background(), h)
	if err != nil || resp.Command == nil || resp.Command.Kind != cloud.CommandXReport {
		t.Fatalf("heartbeat after the X report's request: %+v %v", resp, err)
	}
	h.Command = &cloud.CommandOutcome{ID: resp.Command.ID, Kind: resp.Command.Kind, At: f.clock.Now(), Totals: &cloud.ShiftTotals{Shift: 1, Open: true,
		Income: cloud.OpTotals{Count: 2, Sum: 407000, Cash: 9000, Electronic: 398000}, IncomeReturn: cloud.OpTotals{Count: 1, Sum: 4500, Cash: 4500}, CashBalance: 4500}}
	if _, err := f.client().SendHeartbeat(context.Background(), h); err != nil {
		t.Fatal(err)
	}
	run(t, ctx, "X report's outcome", chromedp.Navigate(base+"registers"), chromedp.WaitVisible(chromedp.ID("cmd-"+pid)))
	if out := text(t, ctx, chromedp.ID("cmd-"+pid)); !strings.Contains(out, "X-отчёт: выполнено 23.11.2026 18:00") ||
		!strings.Contains(out, "возврат прихода\t1\t−45,00") || !strings.Contains(out, "выручка\t4025,00") ||
		!strings.Contains(out, "наличными\t45,00") || !strings.Contains(out, "безналичными\t3980,00") {
		t.Fatalf("X report's outcome %q", out)
	}
	shot(t, ctx, "cabinet-registers.png")

	// A shift close: confirmed on a page of its own, then sent.
	run(t, ctx, "shift close", chromedp.Click(chromedp.CSS("#reg-"+pid+" .close-shift")), chromedp.WaitVisible(chromedp.ID("confirm-close")))
	if ask := text(t, ctx, chromedp.ID("confirm-close")); !strings.Contains(ask, "необратимо") || !strings.Contains(ask, "Смена № 1 открыта") {
		t.Fatalf("shift close's confirmation %q", ask)
	}
	shot(t, ctx, "cabinet-close-shift.png")
	if resp, err := f.client().SendHeartbeat(context.Background(), h); err != nil || resp.Command != nil {
		t.Fatalf("heartbeat before the confirmation: %+v %v", resp, err)
	}
	run(t, ctx, "confirmed", chromedp.Click(chromedp.ID("confirm-yes")), chromedp.WaitVisible(chromedp.ID("flash")))
	if resp, err := f.client().SendHeartbeat(context.Background(), h); err != nil || resp.Command == nil || resp.Command.Kind != cloud.CommandCloseShift {
		t.Fatalf("heartbeat after the confirmation: %+v %v", resp, err)
	}

	// A phone: no page is wider than the window; the registers' table lays
	// each register out as a card.
	run(t, ctx, "phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	for _, page := range []struct{ path, table, name string }{
		{"registers", "registers", "cabinet-registers-phone.png"},
		{"documents", "documents", "cabinet-documents-phone.png"},
		{"documents/" + pid + "/web-1", "receipt", "cabinet-document-phone.png"},
		{"points", "point-" + pid, ""},
		{"alerts", "alerts", ""},
		{"totals", "totals-" + pid, "cabinet-totals-phone.png"},
	} {
		run(t, ctx, "phone "+page.path, chromedp.Navigate(base+page.path), chromedp.WaitVisible(chromedp.ID(page.table)))
		width, err := chromedp.Run(ctx, chromedp.Evaluate[[]int](`[window.innerWidth, document.documentElement.scrollWidth,
			Math.ceil(document.getElementById('`+page.table+`').getBoundingClientRect().right)]`))
		if err != nil {
			t.Fatal(err)
		}
		if width[0] != 390 || width[1] > width[0] || width[2] > width[0] {
			t.Errorf("%s on a phone: window %d px, page %d px, #%s ends at %d px", page.path, width[0], width[1], page.table, width[2])
		}
		if page.name != "" {
			shot(t, ctx, page.name)
		}
	}
}
