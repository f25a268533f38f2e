package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
	qrcode "github.com/skip2/go-qrcode"
	bolt "go.etcd.io/bbolt"
)

// docFilter is the documents page's filter, as its query string carries it.
type docFilter struct {
	Point       string // empty: every point of the account
	State       string // a DocState, or empty
	From, To    string // DD.MM.YYYY (or YYYY-MM-DD), inclusive, each point's own days
	Min, Max    string // roubles
	Undelivered string // hours: fiscalized, not acknowledged by the OFD for longer

	from, to         time.Time // days, as midnights in UTC
	min, max         cloud.Money
	hasMin, hasMax   bool
	undeliveredHours int
}

// parseFilter reads the query; errors name the query parameter.
func parseFilter(q url.Values) (docFilter, error) {
	f := docFilter{Point: q.Get("point"), State: q.Get("state"), From: q.Get("from"), To: q.Get("to"),
		Min: strings.TrimSpace(q.Get("min")), Max: strings.TrimSpace(q.Get("max")), Undelivered: strings.TrimSpace(q.Get("undelivered"))}
	if f.State != "" && !slices.Contains(docStates, cloud.DocState(f.State)) {
		return f, fmt.Errorf("фильтр «Состояние» (state): неизвестное %q", f.State)
	}
	var err error
	if f.From != "" {
		if f.from, err = parseDay(f.From); err != nil {
			return f, fmt.Errorf("фильтр «С даты» (from): %q — нужна дата ДД.ММ.ГГГГ", f.From)
		}
	}
	if f.To != "" {
		if f.to, err = parseDay(f.To); err != nil {
			return f, fmt.Errorf("фильтр «По дату» (to): %q — нужна дата ДД.ММ.ГГГГ", f.To)
		}
	}
	if f.Min != "" {
		if f.min, err = cloud.ParseMoney(strings.Replace(f.Min, ",", ".", 1)); err != nil {
			return f, fmt.Errorf("фильтр «Сумма от» (min): %q — нужна сумма в рублях", f.Min)
		}
		f.hasMin = true
	}
	if f.Max != "" {
		if f.max, err = cloud.ParseMoney(strings.Replace(f.Max, ",", ".", 1)); err != nil {
			return f, fmt.Errorf("фильтр «Сумма до» (max): %q — нужна сумма в рублях", f.Max)
		}
		f.hasMax = true
	}
	if f.Undelivered != "" {
		if f.undeliveredHours, err = strconv.Atoi(f.Undelivered); err != nil || f.undeliveredHours < 0 {
			return f, fmt.Errorf("фильтр «Не доставлен в ОФД дольше, ч» (undelivered): %q — нужно целое число часов", f.Undelivered)
		}
	}
	return f, nil
}

// parseDay reads a day as an owner writes it (23.11.2026) or as links and
// date pickers do (2026-11-23).
func parseDay(v string) (time.Time, error) {
	v = strings.TrimSpace(v)
	if t, err := time.Parse("02.01.2006", v); err == nil {
		return t, nil
	}
	return time.Parse(time.DateOnly, v)
}

// day is the date of t in loc, as a midnight in UTC.
func day(t time.Time, loc *time.Location) time.Time {
	y, m, d := t.In(loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

var docStates = []cloud.DocState{cloud.Queued, cloud.Pending, cloud.Printed, cloud.WaitForCallback, cloud.Completed, cloud.Failed, cloud.Requeued}

// docRow is a document as the cabinet lists it.
type docRow struct {
	Rec       docRecord
	PointName string
	Zone      *time.Location // the point's
	Kind      string         // the receipt's type: SALE, RETURN, BUY, BUY_RETURN, …_CORRECTION
	Total     cloud.Money
	Created   time.Time
	Callback  callbackView
}

// signed is the sum as the owner counts it: money paid out (a return of a
// sale, a purchase) is negative.
func (d docRow) Signed() cloud.Money {
	if kindSign[d.Kind] < 0 {
		return -d.Total
	}
	return d.Total
}

// kindWords are the receipts' types as the owner reads them, by the shop's
// docType and by the register's checkType.
var kindWords = map[string]string{
	"SALE": "приход", "RETURN": "возврат прихода", "BUY": "расход", "PURCHASE": "расход",
	"BUY_RETURN": "возврат расхода", "RETURN_PURCHASE": "возврат расхода",
	"SALE_CORRECTION": "коррекция прихода", "BUY_CORRECTION": "коррекция расхода", "PURCHASE_CORRECTION": "коррекция расхода",
	"RETURN_CORRECTION": "коррекция возврата прихода", "RETURN_PURCHASE_CORRECTION": "коррекция возврата расхода",
}

// kindSign says which way the money goes for the owner: in (+1) or out (−1).
var kindSign = map[string]int{
	"SALE": 1, "RETURN": -1, "BUY": -1, "PURCHASE": -1, "BUY_RETURN": 1, "RETURN_PURCHASE": 1,
	"SALE_CORRECTION": 1, "BUY_CORRECTION": -1, "PURCHASE_CORRECTION": -1,
	"RETURN_CORRECTION": -1, "RETURN_PURCHASE_CORRECTION": 1,
}

func kindWord(k string) string {
	if w, ok := kindWords[k]; ok {
		return w
	}
	if k == "" {
		return "—"
	}
	return k
}

// callbackView is the shop's callback as the owner reads it.
type callbackView struct {
	Text  string
	Class string // ok, warn, bad or none
}

// callbackState says where the document's callback to the shop stands; due:
// the callback is still to be sent or accepted.
func callbackState(d docRecord, due bool) callbackView {
	switch {
	case d.ResponseURL == "":
		return callbackView{Text: "не запрошено"}
	case due && d.CallbackAttempts == 0:
		return callbackView{Text: "отправляется"}
	case due:
		return callbackView{Text: fmt.Sprintf("магазин не принял, попыток: %d", d.CallbackAttempts), Class: "warn"}
	case d.CallbackAttempts > 0 && d.CallbackError == "":
		return callbackView{Text: "принято магазином", Class: "ok"}
	case d.CallbackAttempts > 0:
		return callbackView{Text: fmt.Sprintf("магазин не принял, попыток: %d; попытки прекращены", d.CallbackAttempts), Class: "bad"}
	}
	return callbackView{Text: "после фискализации"}
}

func (d docRow) created() time.Time {
	if d.Rec.Created.IsZero() {
		return d.Rec.Changed
	}
	return d.Rec.Created
}

// fiscalizedAt is when the cloud learned of the receipt.
func (d *docRecord) fiscalizedAt() time.Time {
	if d.Fiscalized.IsZero() {
		return d.Changed
	}
	return d.Fiscalized
}

func (f *docFilter) match(row docRow, now time.Time) bool {
	r := row.Rec
	switch {
	case f.State != "" && string(r.State) != f.State,
		!f.from.IsZero() && day(row.Created, row.Zone).Before(f.from),
		!f.to.IsZero() && day(row.Created, row.Zone).After(f.to),
		f.hasMin && row.Total < f.min,
		f.hasMax && row.Total > f.max:
		return false
	case f.Undelivered != "":
		return r.FiscalInfo != nil && r.OFDDeliveredAt.IsZero() &&
			now.Sub(r.fiscalizedAt()) > time.Duration(f.undeliveredHours)*time.Hour
	}
	return true
}

// documents lists the account's documents that pass the filter, newest first.
func (s *Server) documents(c *cabinetCtx, f docFilter) ([]docRow, error) {
	pts, err := s.points(c)
	if err != nil {
		return nil, err
	}
	now := s.now()
	var out []docRow
	err = s.db.View(func(tx *bolt.Tx) error {
		for _, pr := range pts {
			if f.Point != "" && f.Point != pr.Point.ID {
				continue
			}
			prefix := []byte(pr.Point.ID + "\x00")
			cur := tx.Bucket(bucketDocs).Cursor()
			zone := pointZone(pr.Point)
			for k, v := cur.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = cur.Next() {
				var rec docRecord
				if err := json.Unmarshal(v, &rec); err != nil {
					return fmt.Errorf("document %q: %w", k, err)
				}
				var body []byte // read only when the total and the type need it
				if rec.FiscalInfo == nil {
					body = tx.Bucket(bucketBodies).Get(k)
				}
				row := newDocRow(rec, pr.Point, body, tx.Bucket(bucketCallbacks).Get(k) != nil)
				row.Zone = zone
				if f.match(row, now) {
					out = append(out, row)
				}
			}
		}
		return nil
	})
	slices.SortStableFunc(out, func(a, b docRow) int { return b.Created.Compare(a.Created) })
	return out, err
}

// newDocRow lists a document; body is needed only before it is fiscalized.
func newDocRow(rec docRecord, p cloud.Point, body []byte, callbackDue bool) docRow {
	row := docRow{Rec: rec, PointName: p.Name, Zone: pointZone(p), Callback: callbackState(rec, callbackDue)}
	row.Kind, row.Total = docKind(rec, body)
	row.Created = row.created()
	return row
}

// docKind is the receipt's type and sum: as fiscalized, or before that the
// shop's docType and the sum of the payments in the document's body.
func docKind(rec docRecord, body []byte) (string, cloud.Money) {
	if rec.FiscalInfo != nil {
		return rec.FiscalInfo.CheckType, rec.FiscalInfo.Sum
	}
	var d struct {
		DocType        string                `json:"docType"`
		MoneyPositions []cloud.MoneyPosition `json:"moneyPositions"`
	}
	if json.Unmarshal(body, &d) != nil {
		return "", 0
	}
	var t cloud.Money
	for _, m := range d.MoneyPositions {
		t += m.Sum
	}
	return d.DocType, t
}

type documentsData struct {
	Filter    docFilter
	Points    []pointRecord
	States    []cloud.DocState
	Rows      []docRow
	Total     int
	Truncated bool
	Query     string // the filter, for the CSV link
}

func (s *Server) documentsPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	v := c.view("Документы", "documents")
	f, ferr := parseFilter(r.URL.Query())
	code := http.StatusOK
	var rows []docRow
	if ferr != nil {
		v.Error, code = ferr.Error(), http.StatusBadRequest
	} else {
		var err error
		if rows, err = s.documents(c, f); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	pts, err := s.points(c)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	d := documentsData{Filter: f, Points: pts, States: docStates, Total: len(rows), Query: r.URL.RawQuery}
	if len(rows) > maxListedDocs {
		rows, d.Truncated = rows[:maxListedDocs], true
	}
	d.Rows = rows
	v.Data = d
	s.render(w, r, code, "documents", v)
}

// documentsCSV exports the filtered list for Excel: UTF-8 with a BOM, and
// semicolons, which Excel in a Russian locale splits on.
func (s *Server) documentsCSV(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	f, err := parseFilter(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rows, err := s.documents(c, f)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	var buf bytes.Buffer
	buf.WriteString("\ufeff")
	cw := csv.NewWriter(&buf)
	cw.Comma = ';'
	cw.Write([]string{"Точка", "ID магазина", "Состояние", "Принят", "Изменён", "Сумма", "ФД", "ФПД",
		"Фискализирован", "Доставлен в ОФД", "Попыток уведомления", "Сообщение", "Тип чека", "Уведомление магазина"})
	for _, row := range rows {
		d := row.Rec
		fd, fpd := "", ""
		if d.FiscalInfo != nil {
			fd, fpd = strconv.Itoa(d.FiscalInfo.FNDocNumber), fmt.Sprintf("%010d", d.FiscalInfo.FNDocMark)
		}
		fiscalized := ""
		if d.FiscalInfo != nil {
			fiscalized = csvTime(row.Zone, d.fiscalizedAt())
		}
		cw.Write([]string{csvText(row.PointName), csvText(d.ID), string(d.State), csvTime(row.Zone, row.Created), csvTime(row.Zone, d.Changed),
			strings.Replace(row.Total.String(), ".", ",", 1), fd, fpd, fiscalized, csvTime(row.Zone, d.OFDDeliveredAt),
			strconv.Itoa(d.CallbackAttempts), csvText(d.Message), kindWord(row.Kind), row.Callback.Text})
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		s.internal(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="documents.csv"`)
	w.Write(buf.Bytes())
}

// csvText makes a cell of text that others wrote (shops' ids, owners' names,
// messages) harmless in a spreadsheet: one that starts with = + - @, a tab or
// a carriage return would be read as a formula (CSV injection), so it gets a
// leading apostrophe, which spreadsheet programs show as text and hide.
func csvText(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// csvTime writes a time in the point's zone as a spreadsheet in a Russian
// locale reads a date and time.
func csvTime(loc *time.Location, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(loc).Format("02.01.2006 15:04:05")
}

// receiptView is the receipt laid out from what the cloud holds: the shop's
// document, the point and the register's fiscalInfo (the drive's TLV stays on
// the register).
type receiptView struct {
	Title    string
	Seller   cloud.Point
	Items    []fiscal.Item
	Total    cloud.Money
	Payments []paymentLine
	Doc      cloud.Document
	Tax      string
	Fiscal   *cloud.FiscalInfo
}

type paymentLine struct {
	Name string
	Sum  cloud.Money
}

var docTitles = map[string]string{
	"SALE": "Кассовый чек. Приход", "RETURN": "Кассовый чек. Возврат прихода", "BUY": "Кассовый чек. Расход",
	"BUY_RETURN": "Кассовый чек. Возврат расхода", "SALE_CORRECTION": "Чек коррекции. Приход",
	"BUY_CORRECTION": "Чек коррекции. Расход",
}

type documentData struct {
	Row       docRow
	Point     pointRecord
	Receipt   *receiptView
	Problem   string // why the receipt cannot be laid out
	CanResend bool
	Fresh     bool // just re-queued
}

func (s *Server) loadCabinetDoc(w http.ResponseWriter, r *http.Request, c *cabinetCtx) (docRecord, pointRecord, bool) {
	pointID, id := r.PathValue("point"), r.PathValue("id")
	var rec docRecord
	var pr pointRecord
	found := false
	if c.owns(pointID) {
		err := s.db.View(func(tx *bolt.Tx) error {
			var err error
			if found, err = getJSON(tx.Bucket(bucketDocs), docKey(pointID, id), &rec); err != nil || !found {
				return err
			}
			rec.Body = bytes.Clone(tx.Bucket(bucketBodies).Get(docKey(pointID, id)))
			found, err = getJSON(tx.Bucket(bucketPoints), []byte(pointID), &pr)
			return err
		})
		if err != nil {
			s.internal(w, r, err)
			return rec, pr, false
		}
	}
	if !found {
		notFound(w)
	}
	return rec, pr, found
}

func (s *Server) documentPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	rec, pr, ok := s.loadCabinetDoc(w, r, c)
	if ok {
		s.renderDocument(w, r, c, rec, pr, "")
	}
}

func (s *Server) renderDocument(w http.ResponseWriter, r *http.Request, c *cabinetCtx, rec docRecord, pr pointRecord, flash string) {
	var due bool
	if err := s.db.View(func(tx *bolt.Tx) error {
		due = tx.Bucket(bucketCallbacks).Get(docKey(rec.PointID, rec.ID)) != nil
		return nil
	}); err != nil {
		s.internal(w, r, err)
		return
	}
	row := newDocRow(rec, pr.Point, rec.Body, due)
	d := documentData{Row: row, Point: pr, CanResend: rec.State == cloud.Failed && pr.Point.RemoteMode}
	rv, err := layoutReceipt(rec, pr.Point)
	if err != nil {
		d.Problem = err.Error()
	}
	d.Receipt = rv
	v := c.view("Документ "+rec.ID, "documents")
	v.Flash, v.Data = flash, d
	s.render(w, r, http.StatusOK, "document", v)
}

func layoutReceipt(rec docRecord, p cloud.Point) (*receiptView, error) {
	var doc cloud.Document
	if err := json.Unmarshal(rec.Body, &doc); err != nil {
		return nil, fmt.Errorf("документ не читается: %w", err)
	}
	at := doc.CheckoutDateTime
	if rec.FiscalInfo != nil {
		at = rec.FiscalInfo.Date // the VAT rate of vatTag 1102/1106 follows the receipt's date
	}
	rc, err := doc.ReceiptAt(p, at)
	if err != nil {
		return nil, fmt.Errorf("чек не собирается с нынешними данными точки: %w", err)
	}
	rv := &receiptView{Title: docTitles[doc.DocType], Seller: p, Items: rc.Items, Total: cloud.Money(rc.Total()), Doc: doc, Fiscal: rec.FiscalInfo}
	for name, bit := range cloud.TaxModes {
		if bit == rc.TaxSystem {
			rv.Tax = taxNames[name]
		}
	}
	for _, pl := range []paymentLine{{"Наличными", cloud.Money(rc.Payments.Cash)}, {"Безналичными", cloud.Money(rc.Payments.Electronic)},
		{"Предоплата (аванс)", cloud.Money(rc.Payments.Prepaid)}, {"Постоплата (кредит)", cloud.Money(rc.Payments.Credit)},
		{"Иная форма оплаты", cloud.Money(rc.Payments.Other)}} {
		if pl.Sum != 0 {
			rv.Payments = append(rv.Payments, pl)
		}
	}
	return rv, nil
}

// documentQR serves the receipt's QR code (the fiscalInfo's qr text) as PNG.
func (s *Server) documentQR(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	rec, _, ok := s.loadCabinetDoc(w, r, c)
	if !ok {
		return
	}
	if rec.FiscalInfo == nil || rec.FiscalInfo.QR == "" {
		notFound(w)
		return
	}
	png, err := qrcode.Encode(rec.FiscalInfo.QR, qrcode.Medium, 256)
	if err != nil {
		s.internal(w, r, fmt.Errorf("QR of %s: %w", rec.ID, err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(png)
}

// requeueFromCabinet sends a FAILED document again, in remote-fiscalization mode only.
func (s *Server) requeueFromCabinet(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	rec, pr, ok := s.loadCabinetDoc(w, r, c)
	if !ok {
		return
	}
	if !pr.Point.RemoteMode {
		http.Error(w, "Повторная отправка — только в режиме удалённой фискализации (настройка точки «Останавливать регистрацию при ошибках» выключена).", http.StatusConflict)
		return
	}
	body := rec.Body
	rec, _, err := s.requeueDoc(pr.Point.ID, rec.ID)
	rec.Body = body
	if errors.Is(err, errNotFailed) {
		http.Error(w, fmt.Sprintf("Документ в состоянии %s: отправить снова можно только FAILED.", rec.State), http.StatusConflict)
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.log.Info("cloud: document re-queued in the cabinet", "point", pr.Point.ID, "id", rec.ID, "login", c.Login)
	s.renderDocument(w, r, c, rec, pr, "Документ снова в очереди на кассу.")
}

// alertRow is an alert as the log lists it, with its point's zone.
type alertRow struct {
	alertEntry
	Zone *time.Location
}

func (s *Server) alertsPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	owned := map[string]bool{}
	for _, p := range c.Account.Points {
		owned[p] = true
	}
	entries, err := s.alertLog(owned, maxListedAlerts)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	pts, err := s.points(c)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	zone := map[string]*time.Location{}
	for _, pr := range pts {
		zone[pr.Point.ID] = pointZone(pr.Point)
	}
	rows := make([]alertRow, len(entries))
	for i, e := range entries {
		rows[i] = alertRow{alertEntry: e, Zone: moscow}
		if z := zone[e.Alert.PointID]; z != nil {
			rows[i].Zone = z
		}
	}
	v := c.view("Тревоги", "alerts")
	v.Data = rows
	s.render(w, r, http.StatusOK, "alerts", v)
}
