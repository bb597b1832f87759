package julia

import (
	"cmp"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Platform is a Julia Base.BinaryPlatforms.Platform: a set of lowercase
// tags (arch, os, libc, call_abi, libgfortran_version, cxxstring_abi,
// libstdcxx_version, os_version, julia_version and free-form tags such as
// cuda or sanitize).
//
// A Platform is immutable once built; copies share their tag map, which is
// never written to. A platform marked with HostPlatform treats its
// os_version and libstdcxx_version as upper bounds when matched. The zero
// value has no tags and matches everything.
type Platform struct {
	tags map[string]string
	host bool
}

// reservedTags are the tags Julia prints in the fixed part of a triplet.
var reservedTags = []string{"arch", "os", "libc", "call_abi", "libgfortran_version", "libstdcxx_version", "cxxstring_abi", "os_version"}

// NewPlatform builds a platform as Julia's Platform(arch, os; tags...) does:
// os and every value lowercased, arch normalized (amd64 → x86_64, arm64 →
// aarch64, …), libgfortran_version/libstdcxx_version/os_version re-printed
// as full versions when they parse ("5" → "5.0.0"), libc defaulting to glibc
// on linux and call_abi to eabihf on 32-bit ARM linux. Tag names and values
// containing any of + - space / < > : " ' \ | ? * are rejected, and so
// (unlike Julia) are empty values, which no triplet can carry.
func NewPlatform(arch, os string, tags map[string]string) (Platform, error) {
	os = strings.ToLower(os)
	arch = normalizeArch(arch)
	if err := checkTag("arch", arch); err != nil {
		return Platform{}, err
	}
	if err := checkTag("os", os); err != nil {
		return Platform{}, err
	}
	t := map[string]string{"arch": arch, "os": os}
	for k, v := range tags {
		k = strings.ToLower(k)
		if k == "arch" || k == "os" {
			return Platform{}, errf("platform: cannot pass tag %q twice", k)
		}
		if k == "libgfortran_version" || k == "libstdcxx_version" || k == "os_version" {
			if ver, err := ParseVersion(v); err == nil {
				v = ver.String()
			}
		}
		v = strings.ToLower(v)
		if err := checkTag(k, v); err != nil {
			return Platform{}, err
		}
		t[k] = v
	}
	if os == "linux" {
		if _, ok := t["libc"]; !ok {
			t["libc"] = "glibc"
		}
		if _, ok := t["call_abi"]; !ok && (arch == "armv7l" || arch == "armv6l") {
			t["call_abi"] = "eabihf"
		}
	}
	return Platform{tags: t}, nil
}

func checkTag(k, v string) error {
	const nonos = "+- /<>:\"'\\|?*"
	if k == "" || strings.ContainsAny(k, nonos) {
		return errf("platform: invalid tag name %q", k)
	}
	if v == "" || strings.ContainsAny(v, nonos) {
		return errf("platform: invalid value %q for tag %q", v, k)
	}
	return nil
}

// normalizeArch is Julia's CPUID.normalize_arch.
func normalizeArch(a string) string {
	a = strings.ToLower(a)
	switch a {
	case "amd64":
		return "x86_64"
	case "i386", "i486", "i586":
		return "i686"
	case "armv6":
		return "armv6l"
	case "arm", "armv7", "armv8", "armv8l":
		return "armv7l"
	case "arm64":
		return "aarch64"
	case "ppc64le":
		return "powerpc64le"
	}
	return a
}

// HostPlatform returns p marked as a host: its os_version and
// libstdcxx_version become caps (an artifact matches if its value is ≤ the
// host's), as Julia's HostPlatform(p) sets compare_version_cap.
func HostPlatform(p Platform) Platform {
	p.host = true
	return p
}

// IsHost reports whether p was marked by HostPlatform.
func (p Platform) IsHost() bool { return p.host }

// Tags returns a copy of all tags.
func (p Platform) Tags() map[string]string { return maps.Clone(p.tags) }

// Tag returns one tag's value.
func (p Platform) Tag(k string) (string, bool) {
	v, ok := p.tags[k]
	return v, ok
}

// Arch returns the arch tag ("x86_64", "aarch64", …).
func (p Platform) Arch() string { return p.tags["arch"] }

// OS returns the os tag ("linux", "macos", "windows", "freebsd", …).
func (p Platform) OS() string { return p.tags["os"] }

// Equal reports whether a and b have the same tags and host flag.
func (p Platform) Equal(b Platform) bool { return p.host == b.host && maps.Equal(p.tags, b.tags) }

// String returns Triplet().
func (p Platform) String() string { return p.Triplet() }

// Triplet renders p as Julia's triplet(p) does, except that the free-form
// tags (everything outside the fixed part, including julia_version) are
// sorted by name so that the result is deterministic.
func (p Platform) Triplet() string {
	var b strings.Builder
	b.WriteString(p.tags["arch"])
	osv, hasOSV := p.tags["os_version"]
	switch p.tags["os"] {
	case "linux":
		b.WriteString("-linux")
	case "macos":
		b.WriteString("-apple-darwin")
		if hasOSV {
			b.WriteString(versionPart(osv, 1))
		}
	case "windows":
		b.WriteString("-w64-mingw32")
	case "freebsd":
		b.WriteString("-unknown-freebsd")
		if hasOSV {
			b.WriteString(versionPart(osv, 2))
		}
	case "openbsd":
		b.WriteString("-unknown-openbsd")
	default:
		b.WriteString("-unknown")
	}
	if lc, ok := p.tags["libc"]; ok {
		if lc == "glibc" {
			b.WriteString("-gnu")
		} else {
			b.WriteString("-" + lc)
		}
	}
	b.WriteString(p.tags["call_abi"])
	if v, ok := p.tags["libgfortran_version"]; ok {
		b.WriteString("-libgfortran" + versionPart(v, 1))
	}
	if v, ok := p.tags["cxxstring_abi"]; ok {
		b.WriteString("-" + v)
	}
	if v, ok := p.tags["libstdcxx_version"]; ok {
		if ver, err := ParseVersion(v); err == nil {
			b.WriteString("-libstdcxx" + strconv.FormatUint(ver.Patch, 10))
		} else {
			b.WriteString("-libstdcxx" + v)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.tags)) {
		if slices.Contains(reservedTags, k) {
			continue
		}
		b.WriteString("-" + k + "+" + p.tags[k])
	}
	return b.String()
}

// versionPart prints the first n components (1: "14", 2: "13.2") of a
// version string, or the string itself if it does not parse.
func versionPart(s string, n int) string {
	v, err := ParseVersion(s)
	if err != nil {
		return s
	}
	if n == 1 {
		return strconv.FormatUint(v.Major, 10)
	}
	return fmt.Sprintf("%d.%d", v.Major, v.Minor)
}

// tripletRE is Julia's triplet_regex with the alternatives ordered so that
// the empty "nothing" alternatives are tried last.
var tripletRE = regexp.MustCompile(`^` +
	`(?:(?P<x86_64>(?:x86_|amd)64)|(?P<i686>i\d86)|(?P<aarch64>aarch64|arm64)|(?P<armv6l>armv6l)|(?P<armv7l>arm(?:v7l)?)|(?P<powerpc64le>p(?:ower)?pc64le)|(?P<riscv64>rv64|riscv64))` +
	`(?:(?P<macos>-apple-darwin[\d.]*)|(?P<freebsd>-(?:.*-)?freebsd[\d.]*)|(?P<openbsd>-(?:.*-)?openbsd[\d.]*)|(?P<windows>-w64-mingw32)|(?P<linux>-(?:.*-)?linux))` +
	`(?:(?P<glibc>-gnu)|(?P<musl>-musl)|)` +
	`(?:(?P<eabihf>eabihf)|(?P<eabi>eabi)|)` +
	`(?:(?P<libgfortran3>-libgfortran3|-gcc4)|(?P<libgfortran4>-libgfortran4|-gcc7)|(?P<libgfortran5>-libgfortran5|-gcc8)|)` +
	`(?:(?P<cxx03>-cxx03)|(?P<cxx11>-cxx11)|)` +
	`(?:(?P<libstdcxx>-libstdcxx\d+)|)` +
	`(?P<tags>(?:-[^-]+\+[^-]+)*)` +
	`$`)

var osVersionRE = regexp.MustCompile(`(?:darwin|freebsd|openbsd)([\d.]+)$`)

// ParsePlatform parses a triplet as Julia's parse(Platform, triplet) does:
// "x86_64-linux-gnu-libgfortran5-cxx11-julia_version+1.10.4",
// "aarch64-apple-darwin20", "x86_64-w64-mingw32", "armv7l-linux-musleabihf",
// legacy "-gcc4/-gcc7/-gcc8" for libgfortran 3/4/5, and "-key+value"
// free-form tags.
func ParsePlatform(triplet string) (Platform, error) {
	m := tripletRE.FindStringSubmatch(triplet)
	if m == nil {
		return Platform{}, errf("platform %q: not a supported triplet", triplet)
	}
	group := func(names ...string) (string, string) {
		for _, n := range names {
			if s := m[tripletRE.SubexpIndex(n)]; s != "" {
				return n, s
			}
		}
		return "", ""
	}
	arch, _ := group("x86_64", "i686", "aarch64", "armv6l", "armv7l", "powerpc64le", "riscv64")
	os, osText := group("macos", "freebsd", "openbsd", "windows", "linux")
	tags := map[string]string{}
	if lc, _ := group("glibc", "musl"); lc != "" {
		tags["libc"] = lc
	}
	if ca, _ := group("eabihf", "eabi"); ca != "" {
		tags["call_abi"] = ca
	}
	if gf, _ := group("libgfortran3", "libgfortran4", "libgfortran5"); gf != "" {
		tags["libgfortran_version"] = gf[len("libgfortran"):] + ".0.0"
	}
	if cx, _ := group("cxx03", "cxx11"); cx != "" {
		tags["cxxstring_abi"] = cx
	}
	if _, sc := group("libstdcxx"); sc != "" {
		n, err := strconv.ParseUint(sc[len("-libstdcxx"):], 10, 32)
		if err != nil {
			return Platform{}, errf("platform %q: libstdcxx version out of range", triplet)
		}
		tags["libstdcxx_version"] = fmt.Sprintf("3.4.%d", n)
	}
	if s := m[tripletRE.SubexpIndex("tags")]; s != "" {
		for _, f := range strings.Split(s, "-") {
			if f == "" {
				continue
			}
			kv := strings.Split(f, "+")
			if len(kv) != 2 || kv[0] == "" || kv[1] == "" {
				// Julia would keep kv[1] and drop the rest; we reject what
				// could not be printed back.
				return Platform{}, errf("platform %q: malformed tag %q", triplet, f)
			}
			if k := strings.ToLower(kv[0]); slices.Contains(reservedTags, k) {
				// Julia lets these override the fixed part; we reject
				// them, since the triplet could not carry them back.
				return Platform{}, errf("platform %q: reserved tag %q in free-form part", triplet, kv[0])
			}
			tags[kv[0]] = kv[1]
		}
	}
	if os == "macos" || os == "freebsd" || os == "openbsd" {
		if mm := osVersionRE.FindStringSubmatch(osText); mm != nil {
			v, err := ParseVersion(mm[1])
			if err != nil {
				return Platform{}, fmt.Errorf("platform %q: os version: %w", triplet, err)
			}
			tags["os_version"] = v.String()
		}
	}
	p, err := NewPlatform(arch, os, tags)
	if err != nil {
		return Platform{}, fmt.Errorf("platform %q: %w", triplet, err)
	}
	return p, nil
}

// MustParsePlatform is ParsePlatform for constants; it panics on error.
func MustParsePlatform(triplet string) Platform {
	p, err := ParsePlatform(triplet)
	if err != nil {
		panic(err)
	}
	return p
}

// PlatformsMatch is Julia's platforms_match: for every tag present in both
// a and b the values must agree; tags present on one side only are
// ignored. julia_version agrees on major.minor. os_version and
// libstdcxx_version are compared as versions with a cap when one side is a
// host (HostPlatform): the other side's value must be ≤ the host's; when
// both are hosts they must be equal; when neither is, the strings must be
// equal. Values that do not parse as versions where one is needed make the
// platforms not match (Julia throws there).
func PlatformsMatch(a, b Platform) bool {
	for k, av := range a.tags {
		bv, ok := b.tags[k]
		if !ok {
			continue
		}
		switch k {
		case "julia_version":
			x, err1 := ParseVersion(av)
			y, err2 := ParseVersion(bv)
			if err1 != nil || err2 != nil || x.Major != y.Major || x.Minor != y.Minor {
				return false
			}
		case "os_version", "libstdcxx_version":
			if !a.host && !b.host {
				if av != bv {
					return false
				}
				continue
			}
			x, err1 := ParseVersion(av)
			y, err2 := ParseVersion(bv)
			if err1 != nil || err2 != nil {
				return false
			}
			c := x.Compare(y)
			switch {
			case a.host && b.host:
				if c != 0 {
					return false
				}
			case a.host:
				if c < 0 { // need b <= a
					return false
				}
			default:
				if c > 0 { // need a <= b
					return false
				}
			}
		default:
			if av != bv {
				return false
			}
		}
	}
	return true
}

// matchLoss is Julia's select_platform loss: |tags(a) ∪ tags(b)| − |tags(a) ∩ tags(b)|.
func matchLoss(a, b Platform) int {
	n := 0
	for k := range a.tags {
		if _, ok := b.tags[k]; !ok {
			n++
		}
	}
	for k := range b.tags {
		if _, ok := a.tags[k]; !ok {
			n++
		}
	}
	return n
}

// comparePlatformChoice orders candidates as Julia's select_platform does:
// lower loss first, then descending triplet.
func comparePlatformChoice(a, b, host Platform) int {
	return cmp.Or(cmp.Compare(matchLoss(a, host), matchLoss(b, host)), strings.Compare(b.Triplet(), a.Triplet()))
}
