package advisory

import (
	"fmt"
	"slices"

	"github.com/shoebox-jl/shoebox/pkg/cvss"
	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// Rating is an advisory's severity as computed from its CVSS vectors.
type Rating struct {
	// Known is false when the advisory has no CVSS vector this package
	// can score; Severity is then SeverityNone and means "unknown".
	Known    bool
	Severity cvss.Severity
	// Score is the CVSS score, Version its CVSS version ("3.1", "4.0"…)
	// and Vector the vector it came from.
	Score   float64
	Version string
	Vector  string
}

// String is "high (7.5, CVSS 3.1)" or "unknown".
func (r Rating) String() string {
	if !r.Known {
		return "unknown"
	}
	return fmt.Sprintf("%s (%.1f, CVSS %s)", r.Severity, r.Score, r.Version)
}

// Rate computes the severity from the advisory's severity list and any
// extra entries (an affected package's own): the highest score among the
// CVSS v3.x and v4.0 vectors, or among the v2 vectors when there is no
// other. Vectors that do not parse are skipped.
func (a *Advisory) Rate(extra ...Severity) Rating {
	var best, bestV2 Rating
	for _, s := range slices.Concat(a.Severity, extra) {
		switch s.Type {
		case "CVSS_V2", "CVSS_V3", "CVSS_V4":
		default:
			continue
		}
		sc, err := cvss.Parse(s.Score)
		if err != nil {
			continue
		}
		r := Rating{Known: true, Severity: sc.Severity, Score: sc.Value, Version: sc.Version, Vector: s.Score}
		dst := &best
		if sc.Version == "2.0" {
			dst = &bestV2
		}
		if !dst.Known || r.Score > dst.Score || r.Score == dst.Score && r.Version > dst.Version {
			*dst = r
		}
	}
	if best.Known {
		return best
	}
	return bestV2
}

// AtLeast reports whether r reaches threshold. An unknown rating reaches
// every threshold: an advisory that cannot be scored is not assumed to be
// harmless.
func (r Rating) AtLeast(threshold cvss.Severity) bool {
	return !r.Known || r.Severity >= threshold
}

// IDs returns the advisory's id, then its aliases and upstream ids
// (CVE-…, GHSA-…), without duplicates, in that order.
func (a *Advisory) IDs() []string {
	out := []string{a.ID}
	for _, s := range slices.Concat(a.Aliases, a.Upstream) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// Title is the summary, or the first line of the details, at most 200
// characters.
func (a *Advisory) Title() string {
	s := a.Summary
	if s == "" {
		s = a.Details
		for i, r := range s {
			if r == '\n' {
				s = s[:i]
				break
			}
		}
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:199]) + "…"
	}
	return s
}

// Affects reports whether the advisory applies to version v of the Julia
// package name/uuid (uuid zero: match by name only), and which version
// fixes it ("" when no fix is known). Withdrawn advisories affect nothing.
func (a *Advisory) Affects(name string, uuid julia.UUID, v julia.Version) (affected bool, fixed string, pkg *Affected) {
	if a.Withdrawn != "" {
		return false, "", nil
	}
	for i := range a.Affected {
		af := &a.Affected[i]
		if !af.matchesPackage(name, uuid) {
			continue
		}
		if ok, fix := af.contains(v); ok {
			if !affected || fix != "" && (fixed == "" || lessVersion(fix, fixed)) {
				fixed = fix
			}
			affected, pkg = true, af
		}
	}
	return affected, fixed, pkg
}

func lessVersion(a, b string) bool {
	va, err1 := parseVersion(a)
	vb, err2 := parseVersion(b)
	return err1 == nil && err2 == nil && va.Compare(vb) < 0
}

func (af *Affected) matchesPackage(name string, uuid julia.UUID) bool {
	if af.Package.Ecosystem != EcosystemJulia {
		return false
	}
	if af.Package.Purl != "" && !uuid.IsZero() {
		if p, err := ParsePurl(af.Package.Purl); err == nil && p.HasUUID {
			return p.UUID == uuid
		}
	}
	return af.Package.Name == name
}

// contains evaluates the affected versions and ranges for v (OSV's
// algorithm: per range, the events sorted by version, introduced "0"
// first; v is affected after an introduced ≤ v until a fixed ≤ v, a limit
// ≤ v or a last_affected < v). The fix is the first fixed event above v
// in the range that affects it.
func (af *Affected) contains(v julia.Version) (bool, string) {
	for _, s := range af.Versions {
		if w, err := parseVersion(s); err == nil && w.Compare(v) == 0 {
			return true, ""
		}
	}
	hit, fixed := false, ""
	for _, r := range af.Ranges {
		if r.Type != "SEMVER" && r.Type != "ECOSYSTEM" {
			continue
		}
		ok, fix := r.contains(v)
		if !ok {
			continue
		}
		if !hit || fix != "" && (fixed == "" || lessVersion(fix, fixed)) {
			fixed = fix
		}
		hit = true
	}
	return hit, fixed
}

type event struct {
	kind string
	zero bool // introduced "0"
	v    julia.Version
	raw  string
}

func (r Range) sorted() []event {
	evs := make([]event, 0, len(r.Events))
	for _, e := range r.Events {
		kind, s := e.kind()
		if kind == "" {
			continue
		}
		ev := event{kind: kind, raw: s}
		if kind == "introduced" && s == "0" {
			ev.zero = true
		} else {
			v, err := parseVersion(s)
			if err != nil {
				continue // Parse refuses these; a hand-built Range may hold them
			}
			ev.v = v
		}
		evs = append(evs, ev)
	}
	slices.SortStableFunc(evs, func(a, b event) int {
		switch {
		case a.zero && b.zero:
			return 0
		case a.zero:
			return -1
		case b.zero:
			return 1
		}
		return a.v.Compare(b.v)
	})
	return evs
}

func (r Range) contains(v julia.Version) (bool, string) {
	evs := r.sorted()
	affected := false
	for _, e := range evs {
		switch e.kind {
		case "introduced":
			if e.zero || v.Compare(e.v) >= 0 {
				affected = true
			}
		case "fixed", "limit":
			if v.Compare(e.v) >= 0 {
				affected = false
			}
		case "last_affected":
			if v.Compare(e.v) > 0 {
				affected = false
			}
		}
	}
	if !affected {
		return false, ""
	}
	for _, e := range evs {
		if e.kind == "fixed" && e.v.Compare(v) > 0 {
			return true, e.raw
		}
	}
	return true, ""
}
