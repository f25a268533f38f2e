package fiscal

import (
	"errors"
	"fmt"
	"strings"
)

// ErrRegNumber reports a registration number (1037) whose check digits do not
// match the user's INN and the register's serial.
var ErrRegNumber = errors.New("fiscal: registration number does not match")

var (
	inn10Weights = [...]int{2, 4, 10, 3, 5, 9, 4, 6, 8}
	inn11Weights = [...]int{7, 2, 4, 10, 3, 5, 9, 4, 6, 8}
	inn12Weights = [...]int{3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8}
)

// ValidINN reports whether s is a 10-digit (organisation) or 12-digit
// (individual) INN whose check digits are right. Padding spaces are not accepted.
func ValidINN(s string) bool {
	if !allDigits(s) {
		return false
	}
	switch len(s) {
	case 10:
		return innCheck(s, inn10Weights[:]) == s[9]-'0'
	case 12:
		return innCheck(s, inn11Weights[:]) == s[10]-'0' && innCheck(s, inn12Weights[:]) == s[11]-'0'
	}
	return false
}

func innCheck(s string, w []int) byte {
	sum := 0
	for i, k := range w {
		sum += k * int(s[i]-'0')
	}
	return byte(sum % 11 % 10)
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// RegNumber builds the 16-digit registration number (1037) the tax service
// issues: the first 10 digits, then the 6-digit decimal CRC16-CCITT (init 0xFFFF)
// over those 10 digits, the user's INN left-padded with zeros to 12 and the
// register's serial left-padded with zeros to 20.
func RegNumber(first10, inn, serial string) (string, error) {
	if len(first10) != 10 || !allDigits(first10) {
		return "", fmt.Errorf("fiscal: registration number: first part %q: want 10 digits", first10)
	}
	inn = strings.TrimRight(inn, " ")
	if !ValidINN(inn) {
		return "", fmt.Errorf("fiscal: registration number: INN %q is not valid", inn)
	}
	if serial == "" || len(serial) > 20 {
		return "", fmt.Errorf("fiscal: registration number: serial %q: want 1 to 20 characters", serial)
	}
	crc := CRC16(0xFFFF, []byte(first10))
	crc = CRC16(crc, []byte(strings.Repeat("0", 12-len(inn))+inn))
	crc = CRC16(crc, []byte(strings.Repeat("0", 20-len(serial))+serial))
	return fmt.Sprintf("%s%06d", first10, crc), nil
}

// ValidRegNumber checks a registration number as entered or read from a drive
// (trailing spaces allowed) against the user's INN and the register's serial.
func ValidRegNumber(reg, inn, serial string) error {
	reg = strings.TrimRight(reg, " ")
	if len(reg) != 16 || !allDigits(reg) {
		return fmt.Errorf("fiscal: registration number %q: want 16 digits: %w", reg, ErrRegNumber)
	}
	want, err := RegNumber(reg[:10], inn, serial)
	if err != nil {
		return err
	}
	if want != reg {
		return fmt.Errorf("fiscal: registration number %q: check digits %s, want %s: %w", reg, reg[10:], want[10:], ErrRegNumber)
	}
	return nil
}
