package julia

import (
	"errors"
	"testing"
)

func TestParseUUID(t *testing.T) {
	const ok = "7876af07-990d-54b4-ab0e-23690620f79a"
	u, err := ParseUUID(ok)
	if err != nil || u.String() != ok {
		t.Fatalf("ParseUUID(%q) = %v, %v", ok, u, err)
	}
	if u[0] != 0x78 || u[15] != 0x9a {
		t.Errorf("bytes = %x", u)
	}
	for _, bad := range []string{
		"7876AF07-990d-54b4-ab0e-23690620f79a", // uppercase first nibble
		"7876aF07-990d-54b4-ab0e-23690620f79a", // uppercase second nibble
		"7876af07-990d-54b4-ab0e-23690620f79A", // last character
		"7876af07-990d-54b4-ab0e-23690620f79",  // short
		"7876af07x990d-54b4-ab0e-23690620f79a", // bad dash
		"7876af07-990d-54b4-ab0e-23690620f7ga", // not hex
		"",
	} {
		if _, err := ParseUUID(bad); !errors.Is(err, ErrInvalidUUID) {
			t.Errorf("ParseUUID(%q) error = %v, want ErrInvalidUUID", bad, err)
		}
	}
}

func FuzzParseUUID(f *testing.F) {
	f.Add("7876af07-990d-54b4-ab0e-23690620f79a")
	f.Add("7876aF07-990d-54b4-ab0e-23690620f79a")
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseUUID(s)
		if err == nil && u.String() != s {
			t.Fatalf("ParseUUID(%q) accepted a non-canonical form (prints %q)", s, u.String())
		}
	})
}
