package treehash

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Hash is a git-sha1 tree object id: the identity Julia's Pkg gives to
// registries, packages and artifacts ("git-tree-sha1"). The zero value is not
// a valid tree id; use IsZero to test for it.
type Hash [20]byte

// ErrInvalidHash is returned by Parse for anything that is not 40 lowercase
// hex characters.
var ErrInvalidHash = errors.New("invalid tree hash")

// Parse reads a tree hash in its canonical form: 40 lowercase hex characters.
// Uppercase is rejected, as Pkg servers reject it.
func Parse(s string) (Hash, error) {
	var h Hash
	if len(s) != 40 {
		return h, fmt.Errorf("%q: want 40 hex characters: %w", s, ErrInvalidHash)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return h, fmt.Errorf("%q: want lowercase hex: %w", s, ErrInvalidHash)
		}
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%q: %w", s, ErrInvalidHash)
	}
	return h, nil
}

// MustParse is Parse for constants in tests and tables; it panics on error.
func MustParse(s string) Hash {
	h, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return h
}

// String returns the 40-character lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is the zero value.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText implements encoding.TextMarshaler.
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Hash) UnmarshalText(b []byte) error {
	v, err := Parse(string(b))
	if err != nil {
		return err
	}
	*h = v
	return nil
}
