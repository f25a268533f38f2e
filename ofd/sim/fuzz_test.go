package sim

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/ofd"
)

// FuzzHandle feeds arbitrary bytes to the emulator's message path: it must never
// panic, and whatever it answers must be a well-formed ack for the container's
// drive and FD, accepted only for a document that verifies.
func FuzzHandle(f *testing.F) {
	key := []byte("fuzz drive key")
	const drive = "9999078900004312"
	s, err := New(Config{
		Dir:       f.TempDir(),
		DriveKeys: func(string) ([]byte, bool) { return key, true },
		OFDKey:    []byte("fuzz OFD key"),
		Clock:     func() time.Time { return time.Unix(1e9, 0) },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })

	el := fiscal.AppendUint32(nil, 1040, 7)
	el = fiscal.AppendTLV(el, 1041, []byte(drive))
	el = fiscal.AppendTLV(el, fiscal.TagFiscalSign, fiscal.FiscalSignValue(fiscal.FiscalSign(key, el)))
	doc := fiscal.AppendTLV(nil, fiscal.DocReceipt, el)
	c := ofd.Container{MessageType: ofd.MessageTypeFiscal, DocType: fiscal.DocReceipt, DriveNumber: drive, FD: 7, Document: doc, Sign: fiscal.MessageSign(key, doc)}
	container, err := c.Append(nil)
	if err != nil {
		f.Fatal(err)
	}
	for _, flags := range []uint16{ofd.RegisterFlags, ofd.RegisterFlags | ofd.CRCHeaderContainer} {
		msg, err := ofd.AppendSession(nil, ofd.SessionHeader{AppVersion: ofd.AppProtocolFFD105, DriveNumber: drive, Flags: flags}, container)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(msg)
	}
	log := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, b []byte) {
		h, raw, err := ofd.ReadMessage(bytes.NewReader(b))
		if err != nil {
			return
		}
		ack, err := s.handle(log, h, raw)
		if err != nil {
			return
		}
		in, err := ofd.ParseContainer(raw)
		if err != nil {
			t.Fatalf("answered a container that does not parse: %v", err)
		}
		a, err := ofd.ParseContainer(ack)
		if err != nil {
			t.Fatalf("ack does not parse: %v", err)
		}
		if a.FD != in.FD || a.DriveNumber != in.DriveNumber || a.DocType != fiscal.DocOperatorAck {
			t.Fatalf("ack for %s/%d type %d, message %s/%d", a.DriveNumber, a.FD, a.DocType, in.DriveNumber, in.FD)
		}
		code := a.Document[len(a.Document)-4-fiscal.OperatorSignLen-1]
		if code == CodeAccepted {
			if _, err := fiscal.VerifyFiscalSign(key, in.Document); err != nil || fiscal.MessageSign(key, in.Document) != in.Sign {
				t.Fatalf("accepted a document that does not verify: %v", err)
			}
		}
	})
}
