package advisory

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// Purl is a Julia package URL (https://github.com/package-url/purl-spec,
// type "julia"): pkg:julia/NAME[@VERSION]?uuid=UUID, the form the Julia
// security advisory database and PURL.jl use.
type Purl struct {
	Name    string
	Version string // "" when absent
	UUID    julia.UUID
	HasUUID bool
}

// String renders the purl, percent-encoding the version ("1.2.12+3" is
// "1.2.12%2B3") and the name as the purl specification asks.
func (p Purl) String() string {
	var b strings.Builder
	b.WriteString("pkg:julia/")
	b.WriteString(purlEscape(p.Name))
	if p.Version != "" {
		b.WriteByte('@')
		b.WriteString(purlEscape(p.Version))
	}
	if p.HasUUID {
		b.WriteString("?uuid=")
		b.WriteString(p.UUID.String())
	}
	return b.String()
}

// purlEscape percent-encodes everything but ASCII letters, digits and
// ".-_~".
func purlEscape(s string) string {
	const hexd = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(".-_~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexd[c>>4])
		b.WriteByte(hexd[c&15])
	}
	return b.String()
}

// ParsePurl reads a Julia purl. The uuid qualifier, when present, must be
// a canonical lowercase uuid; other qualifiers and a subpath are ignored.
func ParsePurl(s string) (Purl, error) {
	var p Purl
	rest, ok := strings.CutPrefix(s, "pkg:julia/")
	if !ok {
		return p, fmt.Errorf("purl %.100q: not pkg:julia/…: %w", s, ErrInvalid)
	}
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	name, version, hasVersion := strings.Cut(rest, "@")
	var err error
	if p.Name, err = url.PathUnescape(name); err != nil || p.Name == "" || strings.ContainsAny(p.Name, "/\\") {
		return p, fmt.Errorf("purl %.100q: bad name: %w", s, ErrInvalid)
	}
	if hasVersion {
		if p.Version, err = url.PathUnescape(version); err != nil || p.Version == "" {
			return p, fmt.Errorf("purl %.100q: bad version: %w", s, ErrInvalid)
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return p, fmt.Errorf("purl %.100q: bad qualifiers: %w", s, ErrInvalid)
	}
	if u := q.Get("uuid"); u != "" {
		if p.UUID, err = julia.ParseUUID(u); err != nil {
			return p, fmt.Errorf("purl %.100q: %v: %w", s, err, ErrInvalid)
		}
		p.HasUUID = true
	}
	return p, nil
}
