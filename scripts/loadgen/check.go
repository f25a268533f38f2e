package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/openkassa/kassa/fiscal"
	"github.com/openkassa/kassa/fiscal/fn"
	"github.com/openkassa/kassa/ofd/sim"
	"github.com/openkassa/kassa/store"
)

// expectation is what the shop knows: every document the cloud accepted (200 to
// its POST), what it must add up to, and the FD the shop was told.
type expectation struct {
	receipts map[string]receipt
	told     map[string]uint32
}

// verdict counts what the invariants were checked on.
type verdict struct {
	accepted, driveDocs, receipts, ofdDocs, ofdRepeats int
}

// checkData verifies the invariants on a stopped register's data directory;
// ofdDir holds the OFD emulator's ofd.db and ofdKey its key.
func checkData(data, ofdDir string, ofdKey []byte, want expectation) (verdict, error) {
	v := verdict{accepted: len(want.receipts)}
	ctx := context.Background()
	em, err := fn.NewEmulator(fn.EmulatorConfig{Dir: filepath.Join(data, "fn")})
	if err != nil {
		return v, fmt.Errorf("opening the drive: %w", err)
	}
	defer em.Close()
	if err := em.Check(); err != nil {
		return v, fmt.Errorf("the drive's own check: %w", err)
	}
	st, err := em.State(ctx)
	if err != nil {
		return v, err
	}
	v.driveDocs = int(st.LastFD)
	if st.Unsent != 0 {
		return v, fmt.Errorf("the drive still has %d documents unacknowledged by the OFD", st.Unsent)
	}
	// Every FD 1..LastFD, each ФПД verifying, each shop id signed once.
	archive := make(map[uint32]fn.Archived, st.LastFD)
	signed := map[string]uint32{}
	var got receipt
	var count uint32
	for fd := uint32(1); fd <= st.LastFD; fd++ {
		a, err := em.Document(ctx, fd)
		if err != nil {
			return v, fmt.Errorf("the drive's archive has a gap at FD %d: %w", fd, err)
		}
		archive[fd] = a
		if _, err := fiscal.VerifyFiscalSign(em.Key(), a.TLV); err != nil {
			return v, fmt.Errorf("FD %d: ФПД: %w", fd, err)
		}
		if a.Type != fiscal.DocReceipt {
			continue
		}
		d, err := fiscal.Decode(a.TLV)
		if err != nil {
			return v, fmt.Errorf("FD %d: %w", fd, err)
		}
		id := shopID(d)
		if id == "" {
			return v, fmt.Errorf("FD %d: a receipt without the shop's id in 1084", fd)
		}
		if prev, dup := signed[id]; dup {
			return v, fmt.Errorf("%q fiscalized twice: FD %d and FD %d", id, prev, fd)
		}
		signed[id] = fd
		r, ok := want.receipts[id]
		if !ok {
			return v, fmt.Errorf("FD %d: receipt for %q, which the cloud never accepted", fd, id)
		}
		total, _ := d.Uint(1020)
		cash, _ := d.Uint(1031)
		card, _ := d.Uint(1081)
		prepaid, _ := d.Uint(1215)
		if int64(total) != r.total || int64(cash) != r.cash || int64(card) != r.card || int64(prepaid) != r.prepaid {
			return v, fmt.Errorf("FD %d (%q): total/cash/card/prepaid %d/%d/%d/%d, the shop posted %d/%d/%d/%d",
				fd, id, total, cash, card, prepaid, r.total, r.cash, r.card, r.prepaid)
		}
		got.total += int64(total)
		got.cash += int64(cash)
		got.card += int64(card)
		got.prepaid += int64(prepaid)
		count++
	}
	v.receipts = len(signed)
	for id := range want.receipts {
		fd, ok := signed[id]
		if !ok {
			return v, fmt.Errorf("%q was accepted by the cloud and is not on the drive", id)
		}
		if t := want.told[id]; t != fd {
			return v, fmt.Errorf("%q: on the drive as FD %d, the shop was told FD %d", id, fd, t)
		}
	}

	// The OFD holds every drive document once, byte for byte, its ФПД verified.
	o, err := sim.New(sim.Config{Dir: ofdDir, OFDKey: ofdKey,
		DriveKeys: func(string) ([]byte, bool) { return em.Key(), true }})
	if err != nil {
		return v, fmt.Errorf("opening the OFD's store: %w", err)
	}
	defer o.Close()
	docs, err := o.Documents()
	if err != nil {
		return v, err
	}
	v.ofdDocs = len(docs)
	seen := map[uint32]bool{}
	for _, d := range docs {
		a, ok := archive[d.FD]
		if d.DriveNumber != em.DriveNumber() || !ok {
			return v, fmt.Errorf("the OFD holds %s/%d, which the drive never signed", d.DriveNumber, d.FD)
		}
		if seen[d.FD] {
			return v, fmt.Errorf("the OFD holds FD %d twice", d.FD)
		}
		seen[d.FD] = true
		if !bytes.Equal(d.TLV, a.TLV) || d.FPD != a.FPD {
			return v, fmt.Errorf("FD %d differs between the OFD and the drive", d.FD)
		}
		if fpd, err := fiscal.VerifyFiscalSign(em.Key(), d.TLV); err != nil || fpd != d.FPD {
			return v, fmt.Errorf("FD %d at the OFD: ФПД %d does not verify: %v", d.FD, d.FPD, err)
		}
		v.ofdRepeats += d.Received - 1
	}
	if len(seen) != int(st.LastFD) {
		return v, fmt.Errorf("the OFD holds %d of the drive's %d documents", len(seen), st.LastFD)
	}
	// ... and got them in the drive's order: by FD (as Documents lists them), each
	// first arrived no earlier than the one before.
	for i := 1; i < len(docs); i++ {
		if docs[i].FirstAt.Before(docs[i-1].FirstAt) {
			return v, fmt.Errorf("the OFD got FD %d (%s) before FD %d (%s)", docs[i].FD, docs[i].FirstAt.Format(time.RFC3339Nano),
				docs[i-1].FD, docs[i-1].FirstAt.Format(time.RFC3339Nano))
		}
	}

	// The register's store: its own check, and the ledger against the drive.
	s, err := store.Open(filepath.Join(data, "kassa.db"), store.Limits{})
	if err != nil {
		return v, fmt.Errorf("opening the store: %w", err)
	}
	defer s.Close()
	if err := s.Check(); err != nil {
		return v, fmt.Errorf("the store's check: %w", err)
	}
	l, err := s.Ledger()
	if err != nil {
		return v, err
	}
	c, i := l.Cumulative, int(fiscal.Income)-1
	if l.LastFD != st.LastFD {
		return v, fmt.Errorf("the ledger accounts up to FD %d, the drive's last is %d", l.LastFD, st.LastFD)
	}
	if c.Count[i] != count || c.Sum[i] != got.total || c.Cash[i] != got.cash || c.Electronic[i] != got.card || c.Prepaid[i] != got.prepaid {
		return v, fmt.Errorf("ledger: %d receipts, sum/cash/card/prepaid %d/%d/%d/%d; the drive: %d receipts, %d/%d/%d/%d",
			c.Count[i], c.Sum[i], c.Cash[i], c.Electronic[i], c.Prepaid[i], count, got.total, got.cash, got.card, got.prepaid)
	}
	if l.CashBalance != got.cash {
		return v, fmt.Errorf("the drawer holds %d, the receipts took %d in cash", l.CashBalance, got.cash)
	}
	return v, nil
}

// shopID is the value of the 1084 whose 1085 is "id".
func shopID(d *fiscal.Document) string {
	for _, e := range d.All(fiscal.TagUserRequisite) {
		if n, _ := e.Children.String(fiscal.TagRequisiteName); n == "id" {
			v, _ := e.Children.String(fiscal.TagRequisiteValue)
			return v
		}
	}
	return ""
}

func (v verdict) String() string {
	return fmt.Sprintf("%d accepted, %d drive documents (%d receipts), %d at the OFD (%d repeats stored once)",
		v.accepted, v.driveDocs, v.receipts, v.ofdDocs, v.ofdRepeats)
}

func readKey(path string) ([]byte, error) {
	k, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("the OFD key: %w", err)
	}
	return k, nil
}
