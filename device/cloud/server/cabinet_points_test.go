package server

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/openkassa/kassa/device/cloud"
	"github.com/openkassa/kassa/fiscal"
)

// TestPointKeepVAT20 sets and clears the point's VAT setting in the cabinet
// and reads it as the register receives it.
func TestPointKeepVAT20(t *testing.T) {
	f := newFixture(t, Config{})
	o := f.owner()
	o.mustLogin()
	o.get("/cabinet/points")
	c := f.client()
	for _, keep := range []bool{true, false} {
		form := url.Values{"name": {`ООО "Песочница"`}, "address": {"г. Москва, ул. Тверская, д. 1"}, "inn": {"7707083893"},
			"place": {"https://shop.example"}, "tax": {"COMMON"}, "ofd": {OFDs[0].INN}, "shopDocuments": {"on"}}
		if keep {
			form.Set("keepVat20", "on")
		}
		if code, body := o.post("/cabinet/points/"+f.sb.RetailPointID, form); code != http.StatusOK {
			t.Fatalf("settings: HTTP %d %.300s", code, body)
		}
		p, err := c.Point(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if p.KeepVAT20 != keep {
			t.Errorf("keepVat20 %v after saving %v", p.KeepVAT20, keep)
		}
	}
}

// TestPointRegistrationFlags saves the registration flags in the cabinet and
// reads them into the registration report the register writes.
func TestPointRegistrationFlags(t *testing.T) {
	f := newFixture(t, Config{})
	o := f.owner()
	o.mustLogin()
	o.get("/cabinet/points")
	form := url.Values{"name": {`ООО "Песочница"`}, "address": {"г. Москва, ул. Тверская, д. 1"}, "inn": {"7707083893"},
		"place": {"https://shop.example"}, "tax": {"COMMON"}, "ofd": {OFDs[0].INN}, "shopDocuments": {"on"},
		"automatic": {"on"}, "services": {"on"}, "excise": {"on"}, "agent": {"attorney", "commission_agent"},
		"cashier": {"Петров П."}}
	if code, body := o.post("/cabinet/points/"+f.sb.RetailPointID, form); code != http.StatusBadRequest {
		t.Fatalf("automatic mode without a machine number: HTTP %d %.300s", code, body)
	}
	form.Set("machineNumber", "A-17")
	if code, body := o.post("/cabinet/points/"+f.sb.RetailPointID, form); code != http.StatusOK {
		t.Fatalf("settings: HTTP %d %.300s", code, body)
	}
	p, err := f.client().Point(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	g := p.Registration("0123456789", "1.0.0", "")
	if !g.Seller.Automatic || g.Seller.Machine != "A-17" || !g.Services || !g.Excise || g.BSO || g.Printer ||
		g.AgentFlags != 1<<4|1<<5 || g.Cashier != "Петров П." || !g.Seller.Internet || g.OFDINN != OFDs[0].INN {
		t.Errorf("registration %+v", g)
	}
	tlv, err := g.AppendTLV(nil, fiscal.DocRegistration)
	if err != nil {
		t.Fatal(err)
	}
	els, err := fiscal.SplitElements(tlv)
	if err != nil {
		t.Fatal(err)
	}
	got := map[fiscal.Tag][]byte{}
	for _, e := range els {
		got[e.Tag] = e.Value
	}
	// By hand from the form: 1001 = 1, 1036 "A-17", 1109 = 1, 1110 = 0, 1221 = 0,
	// 1207 = 1, 1057 = attorney (bit 4) | commission agent (bit 5) = 0x30.
	for tag, want := range map[fiscal.Tag]string{1001: "\x01", 1036: "A-17", 1109: "\x01", 1110: "\x00", 1221: "\x00",
		1207: "\x01", 1057: "\x30", 1108: "\x01", 1002: "\x00"} {
		if string(got[tag]) != want {
			t.Errorf("tag %d = % x, want % x", tag, got[tag], want)
		}
	}
	if _, ok := got[1193]; ok {
		t.Error("1193 written though gambling is off")
	}
}

// TestPointTimeZone: the point's zone is one of the list, Moscow without one;
// the point's times and days follow it.
func TestPointTimeZone(t *testing.T) {
	f := newFixture(t, Config{})
	o := f.owner()
	o.mustLogin()
	o.get("/cabinet/points")
	form := url.Values{"name": {`ООО "Песочница"`}, "address": {"г. Москва, ул. Тверская, д. 1"}, "inn": {"7707083893"},
		"place": {"https://shop.example"}, "tax": {"COMMON"}, "ofd": {OFDs[0].INN}, "timeZone": {"Europe/Paris"}}
	if code, _ := o.post("/cabinet/points/"+f.sb.RetailPointID, form); code != http.StatusBadRequest {
		t.Fatalf("a zone outside the list: HTTP %d", code)
	}
	form.Set("timeZone", "Asia/Vladivostok")
	if code, body := o.post("/cabinet/points/"+f.sb.RetailPointID, form); code != http.StatusOK {
		t.Fatalf("settings: HTTP %d %.300s", code, body)
	}
	p, err := f.client().Point(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 23, 15, 30, 0, 0, time.UTC)
	if p.TimeZone != "Asia/Vladivostok" || formatWhen(pointZone(p), at) != "24.11.2026 01:30" || pointZone(p).String() != "МСК+7" {
		t.Errorf("zone %q: %s, %s", p.TimeZone, formatWhen(pointZone(p), at), pointZone(p))
	}
	for name, want := range map[string]string{"": "23.11.2026 18:30", "Europe/Moscow": "23.11.2026 18:30", "Europe/Kaliningrad": "23.11.2026 17:30"} {
		if got := formatWhen(pointZone(cloud.Point{TimeZone: name}), at); got != want {
			t.Errorf("zone %q: %s, want %s", name, got, want)
		}
	}
}
