package julia

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// UUID is a Julia package or registry UUID.
type UUID [16]byte

// ErrInvalidUUID is returned by ParseUUID for anything that is not the
// canonical 36-character lowercase form.
var ErrInvalidUUID = errors.New("invalid uuid")

// ParseUUID reads the canonical lowercase form
// xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx. Uppercase is rejected, as Pkg
// servers reject it (pkg-protocol.md §2.1).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%q: %w", s, ErrInvalidUUID)
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i--
			continue
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return u, fmt.Errorf("%q: want lowercase hex: %w", s, ErrInvalidUUID)
		}
		u[j] = hi<<4 | lo
		j++
	}
	return u, nil
}

// lowerHex decodes one lowercase hex digit.
func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// MustParseUUID is ParseUUID for constants; it panics on error.
func MustParseUUID(s string) UUID {
	u, err := ParseUUID(s)
	if err != nil {
		panic(err)
	}
	return u
}

// String returns the canonical lowercase form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:36], u[10:16])
	return string(b[:])
}

// IsZero reports whether u is the zero value.
func (u UUID) IsZero() bool { return u == UUID{} }

// MarshalText implements encoding.TextMarshaler.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	if err != nil {
		return err
	}
	*u = v
	return nil
}
