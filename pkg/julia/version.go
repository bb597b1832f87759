package julia

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Version is a Julia VersionNumber: major.minor.patch with optional
// pre-release and build identifiers ("1.12.0-DEV", "1.3.1+0"). Build
// metadata takes part in ordering, as in Julia (1.3.1 < 1.3.1+0 < 1.3.1+1).
// The zero value is 0.0.0.
type Version struct {
	Major, Minor, Patch uint64
	Pre, Build          []string
}

// versionRE follows Julia's VERSION_REGEX (base/version.jl): optional "v",
// 1-3 numeric components, optional -prerelease and +build made of
// dot-separated [0-9A-Za-z-]+ identifiers.
var versionRE = regexp.MustCompile(`^v?([0-9]+)(?:\.([0-9]+))?(?:\.([0-9]+))?(?:-((?:[0-9A-Za-z-]+\.)*[0-9A-Za-z-]+))?(?:\+((?:[0-9A-Za-z-]+\.)*[0-9A-Za-z-]+))?$`)

// ParseVersion parses a Julia version number. Missing minor/patch
// components default to zero ("1.6" is 1.6.0). Numeric components must fit
// Julia's UInt32; numeric identifiers must fit a UInt64.
func ParseVersion(s string) (Version, error) {
	var v Version
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return v, fmt.Errorf("version %q: %w", s, ErrMalformed)
	}
	var err error
	parts := []*uint64{&v.Major, &v.Minor, &v.Patch}
	for i, p := range parts {
		if m[i+1] == "" {
			continue
		}
		if *p, err = strconv.ParseUint(m[i+1], 10, 32); err != nil {
			return Version{}, fmt.Errorf("version %q: component out of range: %w", s, ErrMalformed)
		}
	}
	if m[4] != "" {
		v.Pre = strings.Split(m[4], ".")
	}
	if m[5] != "" {
		v.Build = strings.Split(m[5], ".")
	}
	for _, id := range slices.Concat(v.Pre, v.Build) {
		if isNumeric(id) {
			if _, err := strconv.ParseUint(id, 10, 64); err != nil {
				return Version{}, fmt.Errorf("version %q: identifier out of range: %w", s, ErrMalformed)
			}
		}
	}
	return v, nil
}

// MustParseVersion is ParseVersion for constants; it panics on error.
func MustParseVersion(s string) Version {
	v, err := ParseVersion(s)
	if err != nil {
		panic(err)
	}
	return v
}

// String returns the canonical form major.minor.patch[-pre][+build].
func (v Version) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d.%d.%d", v.Major, v.Minor, v.Patch)
	if len(v.Pre) > 0 {
		b.WriteByte('-')
		b.WriteString(strings.Join(v.Pre, "."))
	}
	if len(v.Build) > 0 {
		b.WriteByte('+')
		b.WriteString(strings.Join(v.Build, "."))
	}
	return b.String()
}

// Equal reports whether a and b are the same version (Compare == 0).
func (v Version) Equal(b Version) bool { return v.Compare(b) == 0 }

// Compare orders versions as Julia's isless does: by major, minor, patch;
// then a version with a pre-release sorts before one without; then
// pre-release identifiers; then build identifiers, where having none sorts
// first. Identifiers compare numerically when both are numeric, numeric
// before alphanumeric, otherwise bytewise; a shorter prefix sorts first.
func (v Version) Compare(b Version) int {
	if c := cmpU(v.Major, b.Major); c != 0 {
		return c
	}
	if c := cmpU(v.Minor, b.Minor); c != 0 {
		return c
	}
	if c := cmpU(v.Patch, b.Patch); c != 0 {
		return c
	}
	switch {
	case len(v.Pre) > 0 && len(b.Pre) == 0:
		return -1
	case len(v.Pre) == 0 && len(b.Pre) > 0:
		return 1
	}
	if c := identsCmp(v.Pre, b.Pre); c != 0 {
		return c
	}
	return identsCmp(v.Build, b.Build)
}

func cmpU(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func identsCmp(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if c := identCmp(a[i], b[i]); c != 0 {
			return c
		}
	}
	return cmpU(uint64(len(a)), uint64(len(b)))
}

func identCmp(a, b string) int {
	an, bn := isNumeric(a), isNumeric(b)
	switch {
	case an && bn:
		x, _ := strconv.ParseUint(a, 10, 64)
		y, _ := strconv.ParseUint(b, 10, 64)
		return cmpU(x, y)
	case an:
		return -1
	case bn:
		return 1
	}
	return strings.Compare(a, b)
}

func isNumeric(s string) bool {
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

// VersionBound is one end of a VersionRange as in Pkg's Versions.jl: the
// first N (0-3) components of a version. N == 0 means unbounded ("*").
type VersionBound struct {
	T [3]uint64
	N int
}

// parseBound reads "*", "1", "1.2" or "1.2.3" (an optional leading "v" and
// surrounding spaces are allowed, as Pkg does).
func parseBound(s string) (VersionBound, error) {
	s = strings.TrimSpace(s)
	var b VersionBound
	if s == "*" {
		return b, nil
	}
	s = strings.TrimPrefix(s, "v")
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return b, fmt.Errorf("version bound %q: too many components: %w", s, ErrMalformed)
	}
	for i, p := range parts {
		if !isNumeric(p) {
			return VersionBound{}, fmt.Errorf("version bound %q: %w", s, ErrMalformed)
		}
		n, err := strconv.ParseUint(p, 10, 32)
		if err != nil {
			return VersionBound{}, fmt.Errorf("version bound %q: out of range: %w", s, ErrMalformed)
		}
		b.T[i] = n
	}
	b.N = len(parts)
	return b, nil
}

func (b VersionBound) String() string {
	if b.N == 0 {
		return "*"
	}
	s := make([]string, b.N)
	for i := range b.N {
		s[i] = strconv.FormatUint(b.T[i], 10)
	}
	return strings.Join(s, ".")
}

func (v Version) triple() [3]uint64 { return [3]uint64{v.Major, v.Minor, v.Patch} }

// cmpPrefix compares the first n components of x and y.
func cmpPrefix(x, y [3]uint64, n int) int {
	for i := range n {
		if c := cmpU(x[i], y[i]); c != 0 {
			return c
		}
	}
	return 0
}

// VersionRange is Pkg's VersionRange: Lower and Upper bounds on the leading
// components of a version. "0.7-0.8" holds [0.7.0, 0.9.0), "0.7-0"
// [0.7.0, 1.0.0), "0.7-*" [0.7.0, ∞), a single "0.4" [0.4.0, 0.5.0).
// Only major, minor and patch take part in containment (pre-release and
// build identifiers are ignored, so 1.3.1+0 is in "1.3.1").
type VersionRange struct {
	Lower, Upper VersionBound
}

// ParseRangeKey parses the registry range syntax used for the keys of
// Deps.toml/Compat.toml/WeakDeps.toml/WeakCompat.toml and for the values of
// Compat.toml: "*", "1", "0.4", "0.7-0.8", "0.7-0", "0.8.6-0", "0.7-*",
// "0-0.20.0" (Pkg src/Versions.jl VersionRange(::AbstractString)).
func ParseRangeKey(s string) (VersionRange, error) {
	parts := strings.Split(s, "-")
	if len(parts) != 1 && len(parts) != 2 {
		return VersionRange{}, fmt.Errorf("version range %q: %w", s, ErrMalformed)
	}
	lo, err := parseBound(parts[0])
	if err != nil {
		return VersionRange{}, fmt.Errorf("version range %q: %w", s, err)
	}
	hi := lo
	if len(parts) == 2 {
		if hi, err = parseBound(parts[1]); err != nil {
			return VersionRange{}, fmt.Errorf("version range %q: %w", s, err)
		}
	}
	return newRange(lo, hi), nil
}

func newRange(lo, hi VersionBound) VersionRange {
	// As Pkg: equal tuples mean the trailing digits are zero; keep hi.
	if lo.T == hi.T {
		lo = hi
	}
	return VersionRange{Lower: lo, Upper: hi}
}

// Contains reports whether v lies within r.
func (r VersionRange) Contains(v Version) bool {
	t := v.triple()
	return cmpPrefix(t, r.Lower.T, r.Lower.N) >= 0 && cmpPrefix(t, r.Upper.T, r.Upper.N) <= 0
}

// IsEmpty reports whether no version lies within r.
func (r VersionRange) IsEmpty() bool {
	for i := range min(r.Lower.N, r.Upper.N) {
		if r.Lower.T[i] > r.Upper.T[i] {
			return true
		}
		if r.Lower.T[i] < r.Upper.T[i] {
			return false
		}
	}
	return false
}

// String prints r in Pkg's syntax ("*", "0-1", "0.7-*", "0.4", "0.7-0.8").
func (r VersionRange) String() string {
	m, n := r.Lower.N, r.Upper.N
	switch {
	case m == 0 && n == 0:
		return "*"
	case m == 0:
		return "0-" + r.Upper.String()
	case n == 0:
		return r.Lower.String() + "-*"
	case r.Lower == r.Upper:
		return r.Lower.String()
	}
	return r.Lower.String() + "-" + r.Upper.String()
}

func isLessLL(a, b VersionBound) bool {
	for i := range min(a.N, b.N) {
		if a.T[i] != b.T[i] {
			return a.T[i] < b.T[i]
		}
	}
	return a.N < b.N
}

func isLessUU(a, b VersionBound) bool {
	for i := range min(a.N, b.N) {
		if a.T[i] != b.T[i] {
			return a.T[i] < b.T[i]
		}
	}
	return a.N > b.N
}

// Intersect returns the range of versions in both r and o (possibly empty).
func (r VersionRange) Intersect(o VersionRange) VersionRange {
	lo := r.Lower
	if isLessLL(lo, o.Lower) {
		lo = o.Lower
	}
	hi := r.Upper
	if isLessUU(o.Upper, hi) {
		hi = o.Upper
	}
	return newRange(lo, hi)
}

// VersionSpec is a union of version ranges (Pkg's VersionSpec). The zero
// value contains no version; AllVersions contains every version.
type VersionSpec struct {
	Ranges []VersionRange
}

// AllVersions returns the spec "*".
func AllVersions() VersionSpec {
	return VersionSpec{Ranges: []VersionRange{{}}}
}

// Contains reports whether v lies in any of the ranges.
func (s VersionSpec) Contains(v Version) bool {
	for _, r := range s.Ranges {
		if r.Contains(v) {
			return true
		}
	}
	return false
}

// IsEmpty reports whether the spec contains no version.
func (s VersionSpec) IsEmpty() bool {
	for _, r := range s.Ranges {
		if !r.IsEmpty() {
			return false
		}
	}
	return true
}

// Intersect returns the versions in both s and o.
func (s VersionSpec) Intersect(o VersionSpec) VersionSpec {
	var out []VersionRange
	for _, a := range s.Ranges {
		for _, b := range o.Ranges {
			if r := a.Intersect(b); !r.IsEmpty() {
				out = append(out, r)
			}
		}
	}
	return VersionSpec{Ranges: out}
}

// String prints the ranges in Pkg's syntax: "∅", "1" or "[0.7, 1]".
func (s VersionSpec) String() string {
	var rs []string
	for _, r := range s.Ranges {
		if !r.IsEmpty() {
			rs = append(rs, r.String())
		}
	}
	switch len(rs) {
	case 0:
		return "∅"
	case 1:
		return rs[0]
	}
	return "[" + strings.Join(rs, ", ") + "]"
}

// ParseRegistrySpec reads a Compat.toml/WeakCompat.toml value: one or more
// strings in registry range syntax (see ParseRangeKey), united. Note that in
// this syntax "1.2.3" means exactly [1.2.3, 1.2.4), not the caret range.
func ParseRegistrySpec(vals ...string) (VersionSpec, error) {
	if len(vals) == 0 {
		return VersionSpec{}, fmt.Errorf("empty version spec: %w", ErrMalformed)
	}
	var s VersionSpec
	for _, v := range vals {
		r, err := ParseRangeKey(v)
		if err != nil {
			return VersionSpec{}, err
		}
		s.Ranges = append(s.Ranges, r)
	}
	return s, nil
}

// The three forms of Pkg's semver_spec (src/Versions.jl ver_regs).
var (
	semverVer     = `v?([0-9]+?)(?:\.([0-9]+?))?(?:\.([0-9]+?))?`
	caretTildeRE  = regexp.MustCompile(`^([~^]?)?` + semverVer + `$`)
	inequalityRE  = regexp.MustCompile(`^((?:≥\s*)|(?:>=\s*)|(?:=\s*)|(?:<\s*)|(?:=\s*))v?` + semverVer + `$`)
	hyphenRangeRE = regexp.MustCompile(`^[\s]*` + semverVer + `[\s]*?\s-\s[\s]*?` + semverVer + `[\s]*$`)
)

// ParseSpec parses Project.toml [compat] syntax (Pkg's semver_spec), each
// argument being one comma-separated specifier list; all are united.
// Forms: "1.2.3" and "^1.2.3" (caret, the default), "~1.2" (tilde),
// "= 1.2.3", ">= 1.2", "≥ 1.2", "< 2", and hyphen ranges "2.2.0 - 2"
// (spaces around the hyphen required). Registry Compat.toml values use a
// different syntax: see ParseRegistrySpec.
func ParseSpec(s ...string) (VersionSpec, error) {
	if len(s) == 0 {
		return VersionSpec{}, fmt.Errorf("empty version spec: %w", ErrMalformed)
	}
	var out VersionSpec
	for _, one := range s {
		for _, part := range strings.Split(strings.TrimSpace(one), ",") {
			r, err := semverRange(strings.TrimSpace(part))
			if err != nil {
				return VersionSpec{}, fmt.Errorf("version spec %q: %w", one, err)
			}
			out.Ranges = append(out.Ranges, r)
		}
	}
	return out, nil
}

var errZeroVersion = errors.New(`invalid version "0.0.0"`)

func semverNums(m []string) (t [3]uint64, n int, err error) {
	for i := range 3 {
		if m[i] == "" {
			break
		}
		v, err := strconv.ParseUint(m[i], 10, 32)
		if err != nil {
			return t, 0, fmt.Errorf("component out of range: %w", ErrMalformed)
		}
		t[i] = v
		n++
	}
	if n == 3 && t == [3]uint64{} {
		return t, 0, fmt.Errorf("%w: %w", errZeroVersion, ErrMalformed)
	}
	return t, n, nil
}

func bound(t ...uint64) VersionBound {
	var b VersionBound
	copy(b.T[:], t)
	b.N = len(t)
	return b
}

func semverRange(s string) (VersionRange, error) {
	if m := caretTildeRE.FindStringSubmatch(s); m != nil {
		t, n, err := semverNums(m[2:5])
		if err != nil {
			return VersionRange{}, err
		}
		v0 := bound(t[0], t[1], t[2])
		if m[1] == "~" {
			if n >= 2 {
				return newRange(v0, bound(t[0], t[1])), nil
			}
			return newRange(v0, bound(t[0])), nil
		}
		switch {
		case t[0] != 0:
			return newRange(v0, bound(t[0])), nil
		case t[1] != 0:
			return newRange(v0, bound(t[0], t[1])), nil
		case n == 1:
			return newRange(v0, bound(0)), nil
		case n == 2:
			return newRange(v0, bound(0, 0)), nil
		}
		return newRange(v0, bound(0, 0, t[2])), nil
	}
	if m := inequalityRE.FindStringSubmatch(s); m != nil {
		t, _, err := semverNums(m[2:5])
		if err != nil {
			return VersionRange{}, err
		}
		v := bound(t[0], t[1], t[2])
		op := strings.TrimSpace(m[1])
		switch op {
		case "<":
			var hi VersionBound
			switch {
			case t[2] != 0:
				hi = bound(t[0], t[1], t[2]-1)
			case t[1] != 0:
				hi = bound(t[0], t[1]-1)
			case t[0] != 0:
				hi = bound(t[0] - 1)
			default:
				return VersionRange{}, fmt.Errorf("%q: nothing is below 0: %w", s, ErrMalformed)
			}
			return newRange(bound(0, 0, 0), hi), nil
		case "=":
			return newRange(v, v), nil
		case ">=", "≥":
			return newRange(v, VersionBound{}), nil
		}
		return VersionRange{}, fmt.Errorf("%q: invalid prefix: %w", s, ErrMalformed)
	}
	if m := hyphenRangeRE.FindStringSubmatch(s); m != nil {
		lo, err := hyphenBound(m[1:4])
		if err != nil {
			return VersionRange{}, err
		}
		hi, err := hyphenBound(m[4:7])
		if err != nil {
			return VersionRange{}, err
		}
		return newRange(lo, hi), nil
	}
	return VersionRange{}, fmt.Errorf("invalid version specifier %q: %w", s, ErrMalformed)
}

func hyphenBound(m []string) (VersionBound, error) {
	var b VersionBound
	for i := range 3 {
		if m[i] == "" {
			break
		}
		v, err := strconv.ParseUint(m[i], 10, 32)
		if err != nil || v > math.MaxUint32 {
			return b, fmt.Errorf("component out of range: %w", ErrMalformed)
		}
		b.T[i] = v
		b.N++
	}
	return b, nil
}
