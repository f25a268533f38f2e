package device

import (
	"encoding/json"
	"fmt"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// reportTLV builds the register's elements of a shift or state report.
func (r *Runtime) reportTLV(doc fiscal.Tag) ([]byte, error) {
	rep := fiscal.Report{Seller: r.seller(), Version: r.cfg.Version, Cashier: r.cfg.Cashier}
	return rep.AppendTLV(nil, doc)
}

// seller is the retail point's data as the receipts carry it.
func (r *Runtime) seller() fiscal.Seller {
	p := r.pt()
	return fiscal.Seller{Name: p.Name, INN: p.INN, Address: p.Address, Place: p.Place, TaxSystems: p.TaxSystems, RegNumber: p.RegNumber, Email: p.Email}
}

// docJSON is an archived document for `kassa doc FD`: its fields decoded, with the
// drive's word on whether the OFD has acknowledged it.
func docJSON(a fn.Archived) (consoleAnswer, error) {
	doc, err := fiscal.Decode(a.TLV)
	if err != nil {
		return consoleAnswer{}, err
	}
	out := struct {
		FD       uint32           `json:"fd"`
		FPD      string           `json:"fpd"`
		OFDAcked bool             `json:"ofdAcknowledged"`
		Document *fiscal.Document `json:"document"`
	}{a.FD, fmt.Sprintf("%010d", a.FPD), a.Acked, doc}
	b, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return consoleAnswer{}, err
	}
	return consoleAnswer{Output: string(b) + "\n"}, nil
}
