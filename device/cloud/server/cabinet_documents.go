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
	"github.com/openkassa/kassa/device/cloud/server/storage"
	"github.com/openkassa/kassa/fiscal"
	qrcode "github.com/skip2/go-qrcode"
)

// docFilter is the documents page's filter, as its query string carries it.
type docFilter struct {
	Point       string // empty: every point of the account
	State       string // a DocState, or empty
	From, To    string // DD.MM.YYYY (or YYYY-MM-DD), inclusive, each point's own days
	Min, Max    string // roubles
	Undelivered string // hours: fiscalized, not acknowledged by the OFD for longer
	Kind        string // the receipt's type (kindWords), or empty
	Text        string // a part of the shop's id
	After       string // the cursor of the page's start (storage.DocPage.Next)

	from, to         time.Time // days, as midnights in UTC
	min, max         cloud.Money
	hasMin, hasMax   bool
	undeliveredHours int
}

// parseFilter reads the query; errors name the query parameter.
func parseFilter(q url.Values) (docFilter, error) {
	f := docFilter{Point: q.Get("point"), State: q.Get("state"), From: q.Get("from"), To: q.Get("to"),
		Min: strings.TrimSpace(q.Get("min")), Max: strings.TrimSpace(q.Get("max")), Undelivered: strings.TrimSpace(q.Get("undelivered")),
		Kind: q.Get("kind"), Text: strings.TrimSpace(q.Get("q")), After: q.Get("after")}
	if _, ok := kindWords[f.Kind]; f.Kind != "" && !ok {
		return f, fmt.Errorf("фильтр «Тип» (kind): неизвестный %q", f.Kind)
	}
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
	Rec       storage.Document
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
func callbackState(d *storage.Document) callbackView {
	switch {
	case d.ResponseURL == "":
		return callbackView{Text: "не запрошено"}
	case d.CallbackDue && d.CallbackAttempts == 0:
		return callbackView{Text: "отправляется"}
	case d.CallbackDue:
		return callbackView{Text: fmt.Sprintf("магазин не принял, попыток: %d", d.CallbackAttempts), Class: "warn"}
	case d.CallbackAttempts > 0 && d.CallbackError == "":
		return callbackView{Text: "принято магазином", Class: "ok"}
	case d.CallbackAttempts > 0:
		return callbackView{Text: fmt.Sprintf("магазин не принял, попыток: %d; попытки прекращены", d.CallbackAttempts), Class: "bad"}
	}
	return callbackView{Text: "после фискализации"}
}

// query is the filter as the store takes it: each point's days in its own zone.
func (f *docFilter) query(pts []storage.Point, now time.Time, limit int) storage.DocQuery {
	q := storage.DocQuery{State: cloud.DocState(f.State), Kind: f.Kind, Text: f.Text, After: f.After, Limit: limit}
	if f.hasMin {
		q.Min = &f.min
	}
	if f.hasMax {
		q.Max = &f.max
	}
	if f.Undelivered != "" {
		q.UndeliveredBefore = now.Add(-time.Duration(f.undeliveredHours) * time.Hour)
	}
	midnight := func(d time.Time, zone *time.Location) time.Time {
		y, m, dd := d.Date()
		return time.Date(y, m, dd, 0, 0, 0, 0, zone)
	}
	for _, pr := range pts {
		if f.Point != "" && f.Point != pr.Point.ID {
			continue
		}
		r := storage.PointRange{PointID: pr.Point.ID}
		zone := pointZone(pr.Point)
		if !f.from.IsZero() {
			r.From = midnight(f.from, zone)
		}
		if !f.to.IsZero() {
			r.To = midnight(f.to, zone).AddDate(0, 0, 1)
		}
		q.Points = append(q.Points, r)
	}
	return q
}

// documents lists a page of the account's documents that pass the filter,
// newest first, and the cursor of the next page ("" for the last).
func (s *Server) documents(r *http.Request, c *cabinetCtx, f docFilter, limit int) ([]docRow, string, error) {
	pts, err := s.points(r, c)
	if err != nil {
		return nil, "", err
	}
	q := f.query(pts, s.now(), limit)
	if len(q.Points) == 0 {
		return nil, "", nil
	}
	page, err := s.store.ListDocuments(r.Context(), q)
	if err != nil {
		return nil, "", err
	}
	byID := map[string]cloud.Point{}
	for _, pr := range pts {
		byID[pr.Point.ID] = pr.Point
	}
	rows := make([]docRow, len(page.Documents))
	for i, d := range page.Documents {
		rows[i] = newDocRow(d, byID[d.PointID])
	}
	return rows, page.Next, nil
}

// newDocRow lists a document; its Kind and Total are set (by the list), or
// its Body is.
func newDocRow(rec storage.Document, p cloud.Point) docRow {
	row := docRow{Rec: rec, PointName: p.Name, Zone: pointZone(p), Callback: callbackState(&rec), Kind: rec.Kind, Total: rec.Total}
	if rec.Body != nil {
		row.Kind, row.Total = storage.KindTotal(&rec)
	}
	row.Created = rec.CreatedAt()
	return row
}

type documentsData struct {
	Filter docFilter
	Points []storage.Point
	States []cloud.DocState
	Kinds  []string
	Rows   []docRow
	Query  string // the filter, for the CSV link
	Next   string // the query of the next page; "" on the last
}

// listKinds are the receipts' types the filter offers.
var listKinds = []string{"SALE", "RETURN", "BUY", "BUY_RETURN", "SALE_CORRECTION", "BUY_CORRECTION"}

func (s *Server) documentsPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	v := c.view("Документы", "documents")
	f, ferr := parseFilter(r.URL.Query())
	code := http.StatusOK
	var rows []docRow
	var next string
	if ferr != nil {
		v.Error, code = ferr.Error(), http.StatusBadRequest
	} else {
		var err error
		if rows, next, err = s.documents(r, c, f, maxListedDocs); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	pts, err := s.points(r, c)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	query := r.URL.Query()
	query.Del("after")
	d := documentsData{Filter: f, Points: pts, States: docStates, Kinds: listKinds, Rows: rows, Query: query.Encode()}
	if next != "" {
		query.Set("after", next)
		d.Next = query.Encode()
	}
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
	f.After = "" // every page, from the first
	var rows []docRow
	for {
		page, next, err := s.documents(r, c, f, maxListedDocs)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		rows = append(rows, page...)
		if next == "" {
			break
		}
		f.After = next
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
			fiscalized = csvTime(row.Zone, d.FiscalizedAt())
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
	Point     storage.Point
	Receipt   *receiptView
	Problem   string // why the receipt cannot be laid out
	CanResend bool
	Fresh     bool // just re-queued
}

func (s *Server) loadCabinetDoc(w http.ResponseWriter, r *http.Request, c *cabinetCtx) (storage.Document, storage.Point, bool) {
	pointID, id := r.PathValue("point"), r.PathValue("id")
	var rec storage.Document
	var pr storage.Point
	if !c.owns(pointID) {
		notFound(w)
		return rec, pr, false
	}
	rec, err := s.store.Document(r.Context(), pointID, id)
	if err == nil {
		rec.Body, err = s.store.DocumentBody(r.Context(), pointID, id)
	}
	if err == nil {
		pr, err = s.store.Point(r.Context(), pointID)
	}
	if errors.Is(err, storage.ErrNotFound) {
		notFound(w)
		return rec, pr, false
	}
	if err != nil {
		s.internal(w, r, err)
		return rec, pr, false
	}
	return rec, pr, true
}

func (s *Server) documentPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	rec, pr, ok := s.loadCabinetDoc(w, r, c)
	if ok {
		s.renderDocument(w, r, c, rec, pr, "")
	}
}

func (s *Server) renderDocument(w http.ResponseWriter, r *http.Request, c *cabinetCtx, rec storage.Document, pr storage.Point, flash string) {
	row := newDocRow(rec, pr.Point)
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

func layoutReceipt(rec storage.Document, p cloud.Point) (*receiptView, error) {
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
	rec, err := s.requeueDoc(r.Context(), pr.Point.ID, rec.ID)
	rec.Body = body
	if errors.Is(err, storage.ErrConflict) {
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
	storage.AlertEntry
	Zone *time.Location
}

func (s *Server) alertsPage(w http.ResponseWriter, r *http.Request, c *cabinetCtx) {
	entries, err := s.store.AlertLog(r.Context(), c.Account.Points, maxListedAlerts)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	pts, err := s.points(r, c)
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
		rows[i] = alertRow{AlertEntry: e, Zone: moscow}
		if z := zone[e.Alert.PointID]; z != nil {
			rows[i].Zone = z
		}
	}
	v := c.view("Тревоги", "alerts")
	v.Data = rows
	s.render(w, r, http.StatusOK, "alerts", v)
}
