package ocigraph

import (
	"strings"
	"testing"

	"github.com/opencontainers/go-digest"
)

func TestSuccessors(t *testing.T) {
	const d1 = "sha256:" + "1111111111111111111111111111111111111111111111111111111111111111"
	const d2 = "sha256:" + "2222222222222222222222222222222222222222222222222222222222222222"
	const d3 = "sha256:" + "3333333333333333333333333333333333333333333333333333333333333333"
	m := `{"schemaVersion":2,"subject":{"mediaType":"x","digest":"` + d1 + `","size":1},` +
		`"config":{"mediaType":"c","digest":"` + d2 + `","size":2},"layers":[{"mediaType":"l","digest":"` + d3 + `","size":3}]}`
	out, subject, err := Successors([]byte(m))
	if err != nil || !subject || len(out) != 3 || out[0].Digest != d1 || out[1].Digest != d2 || out[2].Digest != d3 {
		t.Fatalf("Successors = %v, %v, %v", out, subject, err)
	}
	idx := `{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"` + d3 + `","size":3}]}`
	if out, subject, err := Successors([]byte(idx)); err != nil || subject || len(out) != 1 {
		t.Fatalf("index: %v, %v, %v", out, subject, err)
	}
	if _, _, err := Successors([]byte(`{"layers":[{"digest":"sha256:nothex"}]}`)); err == nil || !strings.Contains(err.Error(), "sha256:nothex") {
		t.Errorf("bad digest: error = %v", err)
	}
	if _, _, err := Successors([]byte(`{`)); err == nil {
		t.Error("truncated JSON accepted")
	}
}

func TestValidateDigest(t *testing.T) {
	hex64 := strings.Repeat("0123456789abcdef", 4)
	for _, c := range []struct {
		d    digest.Digest
		fast bool // SHA256Hex accepts it
		ok   bool // ValidateDigest accepts it
	}{
		{digest.Digest("sha256:" + hex64), true, true},
		{digest.Digest("sha256:" + strings.ToUpper(hex64)), false, false},
		{digest.Digest("sha256:" + hex64[:63]), false, false},
		{digest.Digest("sha256:" + hex64 + "0"), false, false},
		{digest.Digest("sha512:" + hex64 + hex64), false, false}, // as go-digest without crypto/sha512 linked
		{digest.Digest("sha256" + hex64), false, false},
		{digest.Digest(""), false, false},
	} {
		h, fast := SHA256Hex(c.d)
		if fast != c.fast || (fast && h != hex64) {
			t.Errorf("SHA256Hex(%q) = %q, %v; want %v", c.d, h, fast, c.fast)
		}
		if err := ValidateDigest(c.d); (err == nil) != c.ok || (err == nil) != (c.d.Validate() == nil) {
			t.Errorf("ValidateDigest(%q) = %v, want ok=%v (as go-digest: %v)", c.d, err, c.ok, c.d.Validate())
		}
	}
}
