package fn

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/openkassa/kassa/fiscal"
)

// Command codes of the drive exchange, with their data and answers as
// FN-UART.md §6 gives them byte by byte, and its rulings (§8) where the
// public sources disagree. Integers are little-endian; date5 is YY MM DD hh
// mm, date3 YY MM DD.
const (
	// 02h data: none, or kind 1 (0 registration, 1 change with drive
	// replacement, 2 change). Answer: none.
	cmdBeginRegistration = 0x02
	// 03h data: date5, user INN 12, registration number 20, tax systems 1,
	// work modes 1 [, reason 1] (39 or 40). Answer: FD u32, ФП u32.
	cmdFinishRegistration = 0x03
	cmdBeginClose         = 0x04 // no data, no answer
	// 05h data: date5, registration number 20. Answer: FD u32, ФП u32.
	cmdFinishClose = 0x05
	cmdCancel      = 0x06 // no data, no answer
	cmdData        = 0x07 // TLV, 1 to MaxChunk bytes
	// 10h answer: shift open 1, shift u16, receipts in shift u16.
	cmdShiftParams      = 0x10
	cmdBeginShiftOpen   = 0x11 // data: date5
	cmdFinishShiftOpen  = 0x12 // no data. Answer: shift u16, FD u32, ФП u32
	cmdBeginShiftClose  = 0x13 // data: date5
	cmdFinishShiftClose = 0x14 // no data. Answer: shift u16, FD u32, ФП u32
	cmdBeginReceipt     = 0x15 // data: date5
	// 16h data: date5, calculation sign 1 (1054), total 5 (1020). Answer:
	// receipt number u16, FD u32, ФП u32.
	cmdFinishReceipt     = 0x16
	cmdBeginCorrection   = 0x17 // data: date5; finished with 16h
	cmdBeginStateReport  = 0x18 // data: date5
	cmdFinishStateReport = 0x19 // no data. Answer: FD u32, ФП u32
	// 20h answer: status bits 1, reading begun 1, unsent u16, first unsent
	// FD u32, its date5.
	cmdOFDStatus     = 0x20
	cmdTransport     = 0x21 // data: up flag, 1 or 4 bytes. No answer
	cmdMessageStart  = 0x22 // answer: message length u16; 08h when nothing is unsent
	cmdMessageRead   = 0x23 // data: offset u16, length u16. Answer: the bytes
	cmdMessageCancel = 0x24
	cmdMessageFinish = 0x25
	cmdAcknowledge   = 0x26 // data: the OFD's container. Answer: its response code 1
	// 30h answer: phase 1, document in progress 1, document data received 1,
	// shift open 1, warnings 1, last document date5, drive number 16 ASCII,
	// last FD u32 (30).
	cmdStatus     = 0x30
	cmdNumber     = 0x31 // answer: drive number 16 ASCII
	cmdValid      = 0x32 // answer: valid until date3, registrations left 1, done 1
	cmdVersion    = 0x33 // answer: firmware version 16 ASCII, firmware type 1
	cmdLastErrors = 0x35 // data: none or block number 1. Answer: none
	// 40h data: FD u32. Answer: FFD document type 1, OFD acknowledged 1,
	// date5, FD u32, ФП u32 and per type: receipt sign 1, total 5; shift
	// report shift u16; registration INN 12, number 20, tax 1, modes 1; drive
	// close INN 12, number 20; state report unsent u32, first unsent date3.
	cmdFindDocument = 0x40
	cmdDocumentAck  = 0x41 // data: FD u32. Answer: the OFD's acknowledgement of it, STLV 7; 08h when it has none of its own
	cmdUnacked      = 0x42 // answer: unacknowledged documents u16
	// 43h answer: date5, INN 12, registration number 20, tax 1, modes 1, FD
	// u32, ФП u32 of the last registration (47).
	cmdRegTotals    = 0x43
	cmdRegParam     = 0x44 // data: tag u16. Answer: that TLV of the last registration
	cmdReadTLVStart = 0x45 // data: FD u32. Answer: document type u16, its length u16
	cmdReadTLV      = 0x46 // answer: the document's next TLV; 08h after the last

	// The emulator's own controls, at codes no published command uses.
	cmdFailWrites    = 0xE0 // data: count u32
	cmdSetMemoryFull = 0xE1 // data: 1 full, 0 not
	cmdExpireKey     = 0xE2
	cmdSetSignDelay  = 0xE3 // data: milliseconds u32
)

// Sizes of fixed answers and requests.
const (
	statusLen   = 30
	shiftLen    = 5
	ofdStatLen  = 13
	validLen    = 5
	versionLen  = 17
	regTotalLen = 47
	innLen      = 12
	regNoLen    = 20
)

// maxRegistrations is how many registrations a drive takes, the first one and its changes.
const maxRegistrations = 12

// Document in progress, 30h byte 1, by the begin command (and 02h's kind).
func docInProgress(begun, kind byte) byte {
	switch begun {
	case cmdBeginRegistration:
		return [...]byte{0x01, 0x12, 0x13}[min(kind, 2)]
	case cmdBeginShiftOpen:
		return 0x02
	case cmdBeginReceipt:
		return 0x04
	case cmdBeginShiftClose:
		return 0x08
	case cmdBeginClose:
		return 0x10
	case cmdBeginCorrection:
		return 0x14
	case cmdBeginStateReport:
		return 0x17
	}
	return 0
}

// Work modes, the bits of 03h's modes byte, and the registration tags that
// carry them, in the order of the public clients that build the byte: RS
// (KKMInfo.WorkModeE) and KKM-C (Hardware.h, enum WorkMode); see
// docs/drive.md.
var modeTags = [...]fiscal.Tag{
	fiscal.TagEncryption, // bit 0
	fiscal.TagAutonomous, // bit 1
	fiscal.TagAutomatic,  // bit 2
	fiscal.TagService,    // bit 3
	fiscal.TagBSO,        // bit 4
	fiscal.TagInternet,   // bit 5
}

// regFields are the fields 03h and 05h carry beside the 07h data.
type regFields struct {
	inn, regNumber string // trimmed
	tax, modes     byte
}

// regFieldsOf reads the registration fields from a document's elements.
func regFieldsOf(els []fiscal.RawElement) regFields {
	var f regFields
	for _, el := range els {
		switch el.Tag {
		case fiscal.TagUserINN:
			f.inn = trimField(el.Value)
		case tagRegNumber:
			f.regNumber = trimField(el.Value)
		case fiscal.TagTaxSystems:
			if len(el.Value) == 1 {
				f.tax = el.Value[0]
			}
		}
		for bit, t := range modeTags {
			if el.Tag == t && len(el.Value) == 1 && el.Value[0] != 0 {
				f.modes |= 1 << bit
			}
		}
	}
	return f
}

// trimField drops the spaces and NULs either side of a fixed field (ruling 2).
func trimField(b []byte) string {
	return strings.Trim(fiscal.DecodeString(b), " \x00")
}

// appendField writes s right-padded with spaces to n bytes (ruling 2).
func appendField(dst []byte, s string, n int) []byte {
	b := []byte(s)
	if len(b) > n {
		b = b[:n]
	}
	dst = append(dst, b...)
	return append(dst, bytes.Repeat([]byte{' '}, n-len(b))...)
}

// addFields writes into a document's elements the tags a finish command
// carries as fields (ruling 11): those the 07h data lacks are appended; those
// it has must agree.
func addFields(tlv []byte, add []fiscal.RawElement, same func(tag fiscal.Tag, have, field []byte) bool) ([]byte, error) {
	els, err := fiscal.SplitElements(tlv)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadParam, err)
	}
	out := bytes.Clone(tlv)
	for _, a := range add {
		found := false
		for _, el := range els {
			if el.Tag == a.Tag {
				found = true
				if !same(a.Tag, el.Value, a.Value) {
					return nil, fmt.Errorf("tag %d at offset %d is % x, the command's field % x: %w", el.Tag, el.Offset, el.Value, a.Value, ErrBadParam)
				}
			}
		}
		if !found {
			out = fiscal.AppendTLV(out, a.Tag, a.Value)
		}
	}
	return out, nil
}

// sameField compares two fixed-width strings trimmed, and anything else byte for byte.
func sameField(tag fiscal.Tag, have, field []byte) bool {
	switch tag {
	case fiscal.TagUserINN, tagRegNumber:
		return trimField(have) == trimField(field)
	case tagTotal:
		v, err := fiscal.VLN(have)
		w, _ := fiscal.VLN(field)
		return err == nil && v == w
	}
	for _, t := range modeTags {
		if tag == t {
			return (len(have) == 1 && have[0] != 0) == (field[0] != 0)
		}
	}
	return bytes.Equal(have, field)
}

// registrationElements are the tags 03h's fields give a registration.
func registrationElements(f regFields) []fiscal.RawElement {
	var add []fiscal.RawElement
	if f.inn != "" {
		add = append(add, fiscal.RawElement{Tag: fiscal.TagUserINN, Value: appendField(nil, f.inn, innLen)})
	}
	if f.regNumber != "" {
		add = append(add, fiscal.RawElement{Tag: tagRegNumber, Value: []byte(f.regNumber)})
	}
	if f.tax != 0 {
		add = append(add, fiscal.RawElement{Tag: fiscal.TagTaxSystems, Value: []byte{f.tax}})
	}
	for bit, t := range modeTags {
		if f.modes&(1<<bit) != 0 {
			add = append(add, fiscal.RawElement{Tag: t, Value: []byte{1}})
		}
	}
	return add
}

func le40(b []byte) uint64 {
	var v uint64
	for i := 4; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func appendLE40(dst []byte, v uint64) []byte {
	for i := 0; i < 5; i++ {
		dst = append(dst, byte(v>>(8*i)))
	}
	return dst
}
