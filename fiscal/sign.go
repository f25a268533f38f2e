package fiscal

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// TagFiscalSign (1077) carries a document's fiscal sign ФПД.
const TagFiscalSign Tag = 1077

// FiscalSign is the ФПД of a document: the first 4 bytes of HMAC-SHA256 with the
// drive's key over the document's elements without 1077, read as a big-endian
// uint32 — the 10-digit number printed on the receipt.
func FiscalSign(key, elements []byte) uint32 {
	m := hmac.New(sha256.New, key)
	m.Write(elements)
	return binary.BigEndian.Uint32(m.Sum(nil))
}

// FiscalSignValue is the 6-byte value of tag 1077: two zero bytes, then the sign big-endian.
func FiscalSignValue(fpd uint32) []byte {
	v := make([]byte, 6)
	binary.BigEndian.PutUint32(v[2:], fpd)
	return v
}

// MessageSign is the ФПС of a message to the OFD: the first 8 bytes of HMAC-SHA256
// with the drive's key over the message's document.
func MessageSign(key, document []byte) [8]byte {
	m := hmac.New(sha256.New, key)
	m.Write(document)
	var s [8]byte
	copy(s[:], m.Sum(nil))
	return s
}

// VerifyFiscalSign checks the 1077 of a document (its STLV, header included)
// against the key and returns the sign it carries.
func VerifyFiscalSign(key, document []byte) (uint32, error) {
	doc, _, err := NextElement(document, 0)
	if err != nil {
		return 0, err
	}
	unsigned := make([]byte, 0, len(doc.Value))
	var fpd uint32
	found := false
	for off := 0; off < len(doc.Value); {
		e, next, err := NextElement(doc.Value, off)
		if err != nil {
			return 0, err
		}
		if e.Tag == TagFiscalSign {
			if len(e.Value) != 6 {
				return 0, fmt.Errorf("fiscal: tag 1077 at offset %d: %d bytes, want 6", e.Offset+4, len(e.Value))
			}
			fpd, found = binary.BigEndian.Uint32(e.Value[2:]), true
		} else {
			unsigned = append(unsigned, doc.Value[off:next]...)
		}
		off = next
	}
	if !found {
		return 0, fmt.Errorf("fiscal: document %d has no fiscal sign (1077)", doc.Tag)
	}
	if want := FiscalSign(key, unsigned); want != fpd {
		return fpd, fmt.Errorf("fiscal: document %d: fiscal sign %d does not verify", doc.Tag, fpd)
	}
	return fpd, nil
}

// OperatorSignLen is the length of the OFD's sign ФПО (tag 1078) as our OFD emulator writes it.
const OperatorSignLen = 18

// OperatorSign is the ФПО our OFD emulator puts in tag 1078 of an acknowledgement:
// the first 18 bytes of HMAC-SHA256 with the OFD's key over the acknowledgement's
// elements before 1078. A register passes 1078 through untouched.
func OperatorSign(key, elements []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(elements)
	return m.Sum(nil)[:OperatorSignLen]
}
