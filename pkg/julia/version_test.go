package julia

import (
	"errors"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

func TestParseVersion(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{"1", "1.0.0"}, {"1.6", "1.6.0"}, {"v0.5.3", "0.5.3"}, {"1.3.1+0", "1.3.1+0"},
		{"1.12.0-DEV", "1.12.0-DEV"}, {"1.1.0+2023d", "1.1.0+2023d"}, {"2.0.0-rc.1+build.5", "2.0.0-rc.1+build.5"},
	} {
		v, err := ParseVersion(tt.in)
		if err != nil || v.String() != tt.want {
			t.Errorf("ParseVersion(%q) = %s, %v; want %s", tt.in, v, err, tt.want)
		}
	}
	for _, bad := range []string{"", "1.", "1.2.3.4", "x", "1.2.3+", "1.2.3-", "-1", "99999999999", "1.0.0+a_b"} {
		if _, err := ParseVersion(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseVersion(%q) err = %v", bad, err)
		}
	}
}

func TestVersion_Compare(t *testing.T) {
	t.Parallel()
	// Strictly increasing, in Julia's order.
	order := []string{"0.9.9", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11",
		"1.0.0-rc.1", "1.0.0", "1.0.0+0", "1.0.0+1", "1.0.0+1.0", "1.0.0+a", "1.0.1", "1.2.0", "1.10.0", "2.0.0"}
	for i := range order {
		for j := range order {
			a, b := MustParseVersion(order[i]), MustParseVersion(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s <=> %s = %d, want %d", order[i], order[j], got, want)
			}
		}
	}
}

func TestParseRangeKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		key     string
		str     string
		in, out []string
	}{
		{"0.7-0.8", "0.7-0.8", []string{"0.7.0", "0.8.99", "0.8.0+1"}, []string{"0.6.9", "0.9.0", "1.0.0"}},
		{"0.7-0", "0.7-0", []string{"0.7.0", "0.99.0"}, []string{"0.6.0", "1.0.0"}},
		{"0.8.6-0", "0.8.6-0", []string{"0.8.6", "0.9.0"}, []string{"0.8.5", "1.0.0"}},
		{"0.7-*", "0.7-*", []string{"0.7.0", "99.0.0"}, []string{"0.6.99"}},
		{"0.4", "0.4", []string{"0.4.0", "0.4.9"}, []string{"0.3.9", "0.5.0"}},
		{"*", "*", []string{"0.0.0", "5.0.0"}, nil},
		{"1", "1", []string{"1.0.0", "1.99.0"}, []string{"0.9.0", "2.0.0"}},
		{"0", "0", []string{"0.0.1", "0.99.9"}, []string{"1.0.0"}},
		{"0-0.20.0", "0-0.20.0", []string{"0.0.0", "0.20.0", "0.20.0+3"}, []string{"0.20.1", "0.21.0"}},
		{"1.2.3", "1.2.3", []string{"1.2.3", "1.2.3+0"}, []string{"1.2.4", "1.2.2"}},
		{"1.2-1.2.0", "1.2.0", []string{"1.2.0"}, []string{"1.2.1"}},
		{"0.5.3-0.5", "0.5.3-0.5", []string{"0.5.3", "0.5.9"}, []string{"0.5.2", "0.6.0"}},
	}
	for _, tt := range tests {
		r, err := ParseRangeKey(tt.key)
		if err != nil {
			t.Errorf("%s: %v", tt.key, err)
			continue
		}
		if r.String() != tt.str {
			t.Errorf("%s: String() = %s, want %s", tt.key, r, tt.str)
		}
		for _, v := range tt.in {
			if !r.Contains(MustParseVersion(v)) {
				t.Errorf("%s should contain %s", tt.key, v)
			}
		}
		for _, v := range tt.out {
			if r.Contains(MustParseVersion(v)) {
				t.Errorf("%s should not contain %s", tt.key, v)
			}
		}
	}
	for _, bad := range []string{"", "a", "1-2-3", "1.2.3.4", "-", "1.x", "99999999999"} {
		if _, err := ParseRangeKey(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseRangeKey(%q) err = %v", bad, err)
		}
	}
}

func TestParseSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		spec    []string
		str     string
		in, out []string
	}{
		{[]string{"1.2.3"}, "1.2.3-1", []string{"1.2.3", "1.9.0"}, []string{"1.2.2", "2.0.0"}},
		{[]string{"^0.2.3"}, "0.2.3-0.2", []string{"0.2.9"}, []string{"0.3.0"}},
		{[]string{"0.0.3"}, "0.0.3", []string{"0.0.3"}, []string{"0.0.4"}},
		{[]string{"0.0"}, "0.0", []string{"0.0.9"}, []string{"0.1.0"}},
		{[]string{"0"}, "0", []string{"0.9.0"}, []string{"1.0.0"}},
		{[]string{"~1.2.3"}, "1.2.3-1.2", []string{"1.2.9"}, []string{"1.3.0"}},
		{[]string{"~1"}, "1", []string{"1.9.0"}, []string{"2.0.0"}},
		{[]string{"= 1.2.3"}, "1.2.3", []string{"1.2.3"}, []string{"1.2.4"}},
		{[]string{">= 1.6"}, "1.6.0-*", []string{"1.6.0", "9.0.0"}, []string{"1.5.9"}},
		{[]string{"≥1.6"}, "1.6.0-*", []string{"1.6.0"}, []string{"1.5.0"}},
		{[]string{"< 2"}, "0.0.0-1", []string{"1.9.9"}, []string{"2.0.0"}},
		{[]string{"<1.2.3"}, "0.0.0-1.2.2", []string{"1.2.2"}, []string{"1.2.3"}},
		{[]string{"2.2.0 - 2"}, "2.2.0-2", []string{"2.2.0", "2.9.0"}, []string{"2.1.0", "3.0.0"}},
		{[]string{"0.7, 1"}, "[0.7, 1]", []string{"0.7.5", "1.3.0"}, []string{"0.8.0", "2.0.0"}},
		{[]string{"0.7", "1.6"}, "[0.7, 1.6.0-1]", []string{"1.6.0"}, []string{"1.5.0"}},
	}
	for _, tt := range tests {
		s, err := ParseSpec(tt.spec...)
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		if s.String() != tt.str {
			t.Errorf("%q: String() = %s, want %s", tt.spec, s, tt.str)
		}
		for _, v := range tt.in {
			if !s.Contains(MustParseVersion(v)) {
				t.Errorf("%q should contain %s", tt.spec, v)
			}
		}
		for _, v := range tt.out {
			if s.Contains(MustParseVersion(v)) {
				t.Errorf("%q should not contain %s", tt.spec, v)
			}
		}
	}
	for _, bad := range [][]string{nil, {""}, {"0.0.0"}, {"<0"}, {"1.2-1.3"}, {"> 1"}, {"1.2.3.4"}, {"~"}} {
		if _, err := ParseSpec(bad...); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSpec(%q) err = %v", bad, err)
		}
	}
}

func TestParseRegistrySpec(t *testing.T) {
	t.Parallel()
	// Values from registry-mini Compat.toml files.
	s, err := ParseRegistrySpec("0.0.0", "1")
	if err != nil || s.Contains(MustParseVersion("0.0.1")) || !s.Contains(MustParseVersion("0.0.0")) || !s.Contains(MustParseVersion("1.5.0")) {
		t.Errorf(`["0.0.0", "1"] = %s, %v`, s, err)
	}
	s, _ = ParseRegistrySpec("1.6.0-1")
	if !s.Contains(MustParseVersion("1.10.2")) || s.Contains(MustParseVersion("1.5.4")) || !s.Contains(MustParseVersion("1.12.0-DEV")) {
		t.Errorf(`"1.6.0-1" = %s`, s)
	}
	s, _ = ParseRegistrySpec("0.1.2-0.1")
	if !s.Contains(MustParseVersion("0.1.5")) || s.Contains(MustParseVersion("0.2.0")) {
		t.Errorf(`"0.1.2-0.1" = %s`, s)
	}
	if got := s.Intersect(MustSpec(t, "0.1.4-0.2")).String(); got != "0.1.4-0.1" {
		t.Errorf("intersect = %s", got)
	}
}

func MustSpec(t *testing.T, vals ...string) VersionSpec {
	t.Helper()
	s, err := ParseRegistrySpec(vals...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSlug(t *testing.T) {
	t.Parallel()
	ex := MustParseUUID("7876af07-990d-54b4-ab0e-23690620f79a")
	if got := Slug(ex, treehash.MustParse("46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc")); got != "aqsx3" {
		t.Errorf("Slug(Example 0.5.3) = %q, want aqsx3", got)
	}
	if got := SlugN(ex, treehash.MustParse("46e44e869b4d90b96bd8ed1fdcf32244fddfb6cc"), 4); got != "aqsx" {
		t.Errorf("SlugN(4) = %q, want aqsx", got)
	}
	reg := readMini(t)
	p, err := reg.LoadPackage(miniFS, ex)
	if err != nil {
		t.Fatal(err)
	}
	h := p.Versions["0.5.1"].TreeHash
	if h.String() != "8eb7b4d4ca487caade9ba3e85932e28ce6d6e1f8" {
		t.Fatalf("Example 0.5.1 = %s", h)
	}
	if got := Slug(ex, h); got != "kH44X" {
		t.Errorf("Slug(Example 0.5.1) = %q, want kH44X", got)
	}
}

func TestParseError_Message(t *testing.T) {
	t.Parallel()
	e := &ParseError{File: "Versions.toml", Key: keyPath("0.5.3", "git-tree-sha1"), Err: errors.New("bad")}
	if got := e.Error(); got != `Versions.toml: key "0.5.3".git-tree-sha1: bad` {
		t.Errorf("Error() = %q", got)
	}
	if !errors.Is(e, ErrMalformed) {
		t.Error("not ErrMalformed")
	}
}
