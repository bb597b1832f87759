package advisory

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// ErrInvalid marks an advisory that is not valid OSV, or whose ranges
// cannot be evaluated (a version that is not a Julia version number).
var ErrInvalid = errors.New("invalid advisory")

// EcosystemJulia is the OSV ecosystem name of Julia packages.
const EcosystemJulia = "Julia"

// MaxSize bounds one advisory file (the largest in the Julia database is
// well under 100 KiB).
const MaxSize = 1 << 20

// Advisory is one OSV record.
type Advisory struct {
	SchemaVersion string `json:"schema_version,omitempty"`
	ID            string `json:"id"`
	// Modified, Published and Withdrawn are RFC 3339 times as given.
	Modified  string `json:"modified"`
	Published string `json:"published,omitempty"`
	// Withdrawn, when set, says the advisory was retracted: it never
	// matches.
	Withdrawn string   `json:"withdrawn,omitempty"`
	Aliases   []string `json:"aliases,omitempty"`
	// Upstream are the ids of the advisories this one derives from (the
	// CVEs of the libraries a JLL wraps).
	Upstream   []string    `json:"upstream,omitempty"`
	Related    []string    `json:"related,omitempty"`
	Summary    string      `json:"summary,omitempty"`
	Details    string      `json:"details,omitempty"`
	Severity   []Severity  `json:"severity,omitempty"`
	Affected   []Affected  `json:"affected,omitempty"`
	References []Reference `json:"references,omitempty"`

	raw []byte // the record as Parse read it
}

// Raw returns the record's bytes as Parse read them (nil for an Advisory
// built otherwise). The caller must not change them.
func (a *Advisory) Raw() []byte { return a.raw }

// Severity is one entry of an OSV severity list: a type ("CVSS_V2",
// "CVSS_V3", "CVSS_V4", "Ubuntu") and a score (a CVSS vector).
type Severity struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one affected package with its ranges and versions.
type Affected struct {
	Package  Package    `json:"package"`
	Severity []Severity `json:"severity,omitempty"`
	Ranges   []Range    `json:"ranges,omitempty"`
	// Versions lists affected versions explicitly.
	Versions []string `json:"versions,omitempty"`
}

// Package names a package in an ecosystem; for Julia, Purl is
// "pkg:julia/NAME?uuid=UUID".
type Package struct {
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	Purl      string `json:"purl,omitempty"`
}

// Range is one range of affected versions, as events.
type Range struct {
	// Type is "SEMVER", "ECOSYSTEM" or "GIT".
	Type   string  `json:"type"`
	Repo   string  `json:"repo,omitempty"`
	Events []Event `json:"events"`
}

// Event is one range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// Reference is a link about the advisory.
type Reference struct {
	Type string `json:"type"`
	URL  string `json:"url"`
}

// Parse reads one OSV record and checks what matching depends on: an id
// of printable ASCII without spaces or path separators, a modified time,
// every event naming exactly one of introduced, fixed, last_affected or
// limit, and, for Julia packages, every SEMVER or ECOSYSTEM event and
// listed version being a Julia version number ("0" for introduced); a
// Julia purl must name the package and carry a valid uuid.
func Parse(b []byte) (*Advisory, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("advisory is %d bytes, limit %d: %w", len(b), MaxSize, ErrInvalid)
	}
	var a Advisory
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("decoding OSV JSON: %v: %w", err, ErrInvalid)
	}
	if dec.More() {
		return nil, fmt.Errorf("decoding OSV JSON: data after the record: %w", ErrInvalid)
	}
	if err := a.check(); err != nil {
		id := a.ID
		if !validID(id) {
			id = fmt.Sprintf("%.64q", a.ID)
		}
		return nil, fmt.Errorf("advisory %s: %w", id, err)
	}
	a.raw = b
	return &a, nil
}

func validID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || c == '/' || c == '\\' {
			return false
		}
	}
	return true
}

func (a *Advisory) check() error {
	if !validID(a.ID) {
		return fmt.Errorf("id %.64q: want 1-128 printable ASCII characters without spaces or slashes: %w", a.ID, ErrInvalid)
	}
	if a.Modified == "" {
		return fmt.Errorf("no modified time: %w", ErrInvalid)
	}
	for i, af := range a.Affected {
		isJulia := af.Package.Ecosystem == EcosystemJulia
		if isJulia && af.Package.Purl != "" {
			p, err := ParsePurl(af.Package.Purl)
			if err != nil {
				return fmt.Errorf("affected[%d]: %w", i, err)
			}
			if p.Name != af.Package.Name {
				return fmt.Errorf("affected[%d]: purl %q names %q, package is %q: %w", i, af.Package.Purl, p.Name, af.Package.Name, ErrInvalid)
			}
		}
		for j, r := range af.Ranges {
			if len(r.Events) == 0 {
				return fmt.Errorf("affected[%d].ranges[%d]: no events: %w", i, j, ErrInvalid)
			}
			for k, e := range r.Events {
				kind, v := e.kind()
				if kind == "" {
					return fmt.Errorf("affected[%d].ranges[%d].events[%d]: want exactly one of introduced, fixed, last_affected, limit: %w", i, j, k, ErrInvalid)
				}
				if !isJulia || r.Type == "GIT" {
					continue
				}
				if kind == "introduced" && v == "0" {
					continue
				}
				if _, err := parseVersion(v); err != nil {
					return fmt.Errorf("affected[%d] %s: ranges[%d].events[%d] %s: %v: %w", i, af.Package.Name, j, k, kind, err, ErrInvalid)
				}
			}
		}
		if isJulia {
			for j, v := range af.Versions {
				if _, err := parseVersion(v); err != nil {
					return fmt.Errorf("affected[%d] %s: versions[%d]: %v: %w", i, af.Package.Name, j, err, ErrInvalid)
				}
			}
		}
	}
	return nil
}

// parseVersion is julia.ParseVersion without the leading "v" Julia
// allows: OSV versions are bare.
func parseVersion(s string) (julia.Version, error) {
	if strings.HasPrefix(s, "v") {
		return julia.Version{}, fmt.Errorf("version %q: OSV versions have no leading v", s)
	}
	return julia.ParseVersion(s)
}

// kind returns the one event kind set and its value, or "" when none or
// several are.
func (e Event) kind() (string, string) {
	kind, v, n := "", "", 0
	for _, f := range []struct{ k, v string }{{"introduced", e.Introduced}, {"fixed", e.Fixed}, {"last_affected", e.LastAffected}, {"limit", e.Limit}} {
		if f.v != "" {
			kind, v = f.k, f.v
			n++
		}
	}
	if n != 1 {
		return "", ""
	}
	return kind, v
}
