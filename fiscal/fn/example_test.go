package fn_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
)

// An emulated drive signs a registration, opens a shift and signs a receipt;
// the archive gives the receipt back with a ФПД that verifies.
func ExampleEmulator() {
	dir, _ := os.MkdirTemp("", "fn")
	defer os.RemoveAll(dir)
	d, err := fn.NewEmulator(fn.EmulatorConfig{Dir: dir, Key: []byte("example key")})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	ctx := context.Background()
	at := time.Date(2026, 11, 22, 12, 24, 0, 0, time.FixedZone("MSK", 3*3600))

	reg, _ := fiscal.AppendString(nil, 1037, "0000000001012345    ")
	d.Register(ctx, fn.Doc{Time: at, TLV: reg})
	d.OpenShift(ctx, fn.Doc{Time: at})

	tlv := fiscal.AppendByte(nil, 1054, byte(fiscal.Income))
	tlv = fiscal.AppendVLN(tlv, 1020, 199000)
	s, err := d.Receipt(ctx, fn.ReceiptDoc{Time: at, Sign: fiscal.Income, Total: 199000, TLV: tlv})
	if err != nil {
		fmt.Println(err)
		return
	}
	a, _ := d.Document(ctx, s.FD)
	_, err = fiscal.VerifyFiscalSign(d.Key(), a.TLV)
	fmt.Printf("FD %d, shift %d, receipt %d, at %s, sign verifies: %v\n", s.FD, s.Shift, s.Number, s.Time.Format("2006-01-02 15:04"), err == nil)
	// Output: FD 3, shift 1, receipt 1, at 2026-11-22 12:24, sign verifies: true
}
