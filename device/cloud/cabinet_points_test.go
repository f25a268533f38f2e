package cloud

import (
	"context"
	"net/http"
	"net/url"
	"testing"
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
