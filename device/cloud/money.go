package cloud

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/openkassa/kassa/fiscal"
)

// maxKopecks is the largest sum a 6-byte VLN holds.
const maxKopecks = 1<<48 - 1

// noise is how far (in kopecks, or in thousandths for quantities) a JSON number may
// sit from an exact value: clients that compute prices by float division send
// 19.900000000000002, and refusing it would refuse honest shops.
var noise = big.NewRat(1, 1_000_000)

var (
	errNotNumber = errors.New("not a number")
	errNegative  = errors.New("negative")
	errTooLarge  = errors.New("too large")
	errPrecision = errors.New("more decimals than allowed")
)

// Money is a sum in kopecks; on the wire it is a JSON number in roubles.
type Money int64

// String writes roubles with exactly two decimals.
func (m Money) String() string {
	v := int64(m)
	sign := ""
	if v < 0 {
		sign, v = "-", -v
	}
	return fmt.Sprintf("%s%d.%02d", sign, v/100, v%100)
}

// MarshalJSON writes roubles with two decimals, so stored documents read back unchanged.
func (m Money) MarshalJSON() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalJSON parses roubles into kopecks; see ParseMoney.
func (m *Money) UnmarshalJSON(b []byte) error {
	v, err := ParseMoney(string(b))
	if err != nil {
		return err
	}
	*m = v
	return nil
}

// ParseMoney turns a JSON number of roubles into kopecks exactly: the decimal text is
// read as a rational, never through float64, and it must lie within noise of a kopeck.
func ParseMoney(s string) (Money, error) {
	v, err := parseFixed(s, 2)
	if err != nil {
		return 0, err
	}
	if v > maxKopecks {
		return 0, errTooLarge
	}
	return Money(v), nil
}

// parseFixed reads s as a non-negative number with at most decimals places (up to noise).
func parseFixed(s string, decimals int) (uint64, error) {
	if v, ok := parsePlain(s, decimals); ok {
		return v, nil
	}
	return parseRat(s, decimals)
}

// parsePlain reads the common case in integers: digits, then optionally a
// point and one to decimals digits, in all at most 15 digits before the point.
// It reports false for anything else, which parseRat judges.
func parsePlain(s string, decimals int) (uint64, bool) {
	var v uint64
	i := 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		v = v*10 + uint64(s[i]-'0')
	}
	if i == 0 || i > 15 {
		return 0, false
	}
	frac := 0
	if i < len(s) {
		if s[i] != '.' {
			return 0, false
		}
		for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
			v = v*10 + uint64(s[i]-'0')
			frac++
		}
		if i < len(s) || frac == 0 || frac > decimals {
			return 0, false
		}
	}
	for ; frac < decimals; frac++ {
		v *= 10
	}
	if v > maxKopecks {
		return 0, false
	}
	return v, true
}

// parseRat reads s as a rational, never through float64, and rounds it to
// decimals places if it lies within noise of such a value.
func parseRat(s string, decimals int) (uint64, error) {
	if _, err := strconv.ParseFloat(s, 64); err != nil {
		// ParseFloat is the JSON grammar's gatekeeper; big.Rat alone also takes "1/3".
		return 0, errNotNumber
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, errNotNumber
	}
	if r.Sign() < 0 {
		return 0, errNegative
	}
	scale := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(decimals)), nil)
	r.Mul(r, new(big.Rat).SetInt(scale))
	// Round half up, then see how far the exact value was from it.
	n := new(big.Int).Quo(new(big.Int).Add(new(big.Int).Mul(r.Num(), big.NewInt(2)), r.Denom()), new(big.Int).Mul(r.Denom(), big.NewInt(2)))
	diff := new(big.Rat).Sub(r, new(big.Rat).SetInt(n))
	if diff.Abs(diff).Cmp(noise) > 0 {
		return 0, errPrecision
	}
	if !n.IsUint64() || n.Uint64() > maxKopecks {
		return 0, errTooLarge
	}
	return n.Uint64(), nil
}

// Quantity is a position's quantity, up to three decimals (weight goods).
type Quantity fiscal.Quantity

// MarshalJSON writes the quantity as a plain decimal number.
func (q Quantity) MarshalJSON() ([]byte, error) { return []byte(q.text()), nil }

// text is the quantity as a plain decimal number: 3, 0.5, 1.125.
func (q Quantity) text() string {
	if q.Decimals == 0 {
		return strconv.FormatUint(q.Value, 10)
	}
	p := uint64(1)
	for range q.Decimals {
		p *= 10
	}
	return fmt.Sprintf("%d.%0*d", q.Value/p, int(q.Decimals), q.Value%p)
}

// UnmarshalJSON parses a quantity with at most three decimals.
func (q *Quantity) UnmarshalJSON(b []byte) error {
	v, err := parseQuantity(string(b))
	if err != nil {
		return err
	}
	*q = v
	return nil
}

// parseQuantity keeps as few decimals as the value needs, as a register prints it.
func parseQuantity(s string) (Quantity, error) {
	v, err := parseFixed(s, 3)
	if err != nil {
		return Quantity{}, err
	}
	q := Quantity{Value: v, Decimals: 3}
	for q.Decimals > 0 && q.Value%10 == 0 {
		q.Value /= 10
		q.Decimals--
	}
	return q, nil
}
