// Package cvss computes scores and qualitative severities from CVSS vector
// strings, as security advisories (OSV "severity") carry them.
//
// Implemented from the FIRST specifications:
//
//   - CVSS v4.0 (https://www.first.org/cvss/v4.0/specification-document,
//     §7–8): the MacroVector score table and the interpolation by severity
//     distance, with the threat and environmental metrics the vector gives
//     (the score is then CVSS-BT, -BE or -BTE, see Score.Nomenclature).
//   - CVSS v3.1 and v3.0 (https://www.first.org/cvss/v3.1/specification-document
//     §7.1 and Appendix A; v3.0 §8.1): the base score. Temporal and
//     environmental metrics are checked but not scored.
//   - CVSS v2.0 (https://www.first.org/cvss/v2/guide §3.2.1): the base
//     score; its severity uses the NVD scale (no Critical).
//
// Parsing is strict: a vector must start with its version prefix (v2 has
// none), name every mandatory metric exactly once with a defined value, and
// nothing the version does not define. Errors wrap ErrInvalid.
//
// The package uses only the standard library and is safe for concurrent use.
package cvss

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
)

// ErrInvalid marks a vector string that is not a valid CVSS vector.
var ErrInvalid = errors.New("invalid CVSS vector")

// Severity is the qualitative severity rating of a score.
type Severity int

// The ratings, in increasing order (CVSS v3.1 §5, v4.0 §6).
const (
	SeverityNone Severity = iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"none", "low", "medium", "high", "critical"}

// String returns the lower-case name: "none", "low", "medium", "high" or
// "critical".
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity reads a severity name, in any case.
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return SeverityNone, fmt.Errorf("severity %q: want none, low, medium, high or critical", s)
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Rating returns the qualitative rating of a CVSS v3.x or v4.0 score:
// 0 none, 0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high, 9.0–10.0 critical.
func Rating(score float64) Severity {
	switch {
	case score >= 9.0:
		return SeverityCritical
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	case score > 0:
		return SeverityLow
	}
	return SeverityNone
}

// ratingV2 is the NVD's scale for CVSS v2 base scores: 0 none, 0.1–3.9 low, 4.0–6.9
// medium, 7.0–10.0 high.
func ratingV2(score float64) Severity {
	switch {
	case score == 0:
		return SeverityNone
	case score >= 7.0:
		return SeverityHigh
	case score >= 4.0:
		return SeverityMedium
	}
	return SeverityLow
}

// Score is a computed score.
type Score struct {
	// Version is "2.0", "3.0", "3.1" or "4.0".
	Version string
	// Value is the score, 0.0–10.0, one decimal.
	Value float64
	// Severity is its qualitative rating.
	Severity Severity
	// Nomenclature names what was scored: "CVSS-B" (base metrics only),
	// or for v4.0 "CVSS-BT", "CVSS-BE" or "CVSS-BTE" when the vector
	// sets threat and/or environmental metrics.
	Nomenclature string
}

// Parse scores a CVSS vector string of any supported version: v4.0
// ("CVSS:4.0/…"), v3.1 and v3.0 ("CVSS:3.1/…"), and v2.0 (no prefix,
// optionally in parentheses).
func Parse(vector string) (Score, error) {
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		return parseV4(vector)
	case strings.HasPrefix(vector, "CVSS:3.1/"), strings.HasPrefix(vector, "CVSS:3.0/"):
		return parseV3(vector)
	case strings.HasPrefix(vector, "CVSS:"):
		return Score{}, invalid(vector, "unsupported version")
	}
	return parseV2(vector)
}

func invalid(vector, why string) error {
	if len(vector) > 200 {
		vector = vector[:200] + "…"
	}
	return fmt.Errorf("%q: %s: %w", vector, why, ErrInvalid)
}

// letters turns a table of metric -> permitted one-letter values ("NALP")
// into the form metrics takes.
func letters(t map[string]string) map[string][]string {
	out := make(map[string][]string, len(t))
	for k, v := range t {
		for _, c := range v {
			out[k] = append(out[k], string(c))
		}
	}
	return out
}

// metrics splits "K:V/K:V…" into a map, refusing empty parts, repeated keys,
// keys not in allowed and values it does not permit for the key.
func metrics(vector, body string, allowed map[string][]string) (map[string]string, error) {
	m := make(map[string]string, 16)
	for part := range strings.SplitSeq(body, "/") {
		k, v, ok := strings.Cut(part, ":")
		if !ok || k == "" || v == "" {
			return nil, invalid(vector, fmt.Sprintf("metric %q is not KEY:VALUE", part))
		}
		vals, known := allowed[k]
		if !known {
			return nil, invalid(vector, fmt.Sprintf("unknown metric %s", k))
		}
		if _, dup := m[k]; dup {
			return nil, invalid(vector, fmt.Sprintf("metric %s given twice", k))
		}
		if !slices.Contains(vals, v) {
			return nil, invalid(vector, fmt.Sprintf("metric %s has no value %q", k, v))
		}
		m[k] = v
	}
	return m, nil
}

// require checks that every key is present.
func require(vector string, m map[string]string, keys ...string) error {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			return invalid(vector, "missing base metric "+k)
		}
	}
	return nil
}

// round1 rounds half away from zero to one decimal (non-negative inputs),
// as the specifications' "round to one decimal" and JavaScript's
// Math.round(x*10)/10 do for them.
func round1(x float64) float64 { return math.Floor(x*10+0.5) / 10 }
