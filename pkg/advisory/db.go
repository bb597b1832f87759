package advisory

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// MaxAdvisories bounds how many advisories a Database holds (the Julia
// database has about 1,700; OSV's largest ecosystems a few hundred
// thousand).
const MaxAdvisories = 1_000_000

// Database is a set of advisories, indexed by package. It is immutable
// and safe for concurrent use.
type Database struct {
	advisories []*Advisory
	byUUID     map[julia.UUID][]int // packages named by a purl with a uuid
	byName     map[string][]int     // packages named without one
	byAnyName  map[string][]int     // every Julia package, by name
}

// New indexes advisories; two with the same id are an error.
func New(advisories []*Advisory) (*Database, error) {
	if len(advisories) > MaxAdvisories {
		return nil, fmt.Errorf("%d advisories, limit %d: %w", len(advisories), MaxAdvisories, ErrInvalid)
	}
	d := &Database{advisories: slices.Clone(advisories), byUUID: map[julia.UUID][]int{}, byName: map[string][]int{},
		byAnyName: map[string][]int{}}
	slices.SortFunc(d.advisories, func(a, b *Advisory) int { return strings.Compare(a.ID, b.ID) })
	for i, a := range d.advisories {
		if i > 0 && d.advisories[i-1].ID == a.ID {
			return nil, fmt.Errorf("advisory %s given twice: %w", a.ID, ErrInvalid)
		}
		seenU, seenN, seenA := map[julia.UUID]bool{}, map[string]bool{}, map[string]bool{}
		for _, af := range a.Affected {
			if af.Package.Ecosystem != EcosystemJulia {
				continue
			}
			if !seenA[af.Package.Name] {
				d.byAnyName[af.Package.Name] = append(d.byAnyName[af.Package.Name], i)
				seenA[af.Package.Name] = true
			}
			if p, err := ParsePurl(af.Package.Purl); err == nil && p.HasUUID {
				if !seenU[p.UUID] {
					d.byUUID[p.UUID] = append(d.byUUID[p.UUID], i)
					seenU[p.UUID] = true
				}
				continue
			}
			if !seenN[af.Package.Name] {
				d.byName[af.Package.Name] = append(d.byName[af.Package.Name], i)
				seenN[af.Package.Name] = true
			}
		}
	}
	return d, nil
}

// Load reads every *.json file of fsys, at any depth, as one advisory
// (an OSV export: a directory, or the files of a zip or tarball). Files
// and directories whose names start with "." are skipped. An advisory
// that does not parse is an error naming its file.
func Load(fsys fs.FS) (*Database, error) {
	var advs []*Advisory
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || path.Ext(p) != ".json" {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file: %w", p, ErrInvalid)
		}
		if len(advs) >= MaxAdvisories {
			return fmt.Errorf("more than %d advisories: %w", MaxAdvisories, ErrInvalid)
		}
		b, err := readFile(fsys, p)
		if err != nil {
			return err
		}
		a, err := Parse(b)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		advs = append(advs, a)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return New(advs)
}

func readFile(fsys fs.FS, p string) ([]byte, error) {
	f, err := fsys.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%s: over %d bytes: %w", p, MaxSize, ErrInvalid)
	}
	return b, nil
}

// Advisories returns every advisory, sorted by id.
func (d *Database) Advisories() []*Advisory { return slices.Clone(d.advisories) }

// Files returns the advisories as OSV files, "<id>.json" → the bytes
// Parse read (re-encoded as JSON for an advisory built otherwise): the
// snapshot a bundle carries (bundle.PushAdvisories).
func (d *Database) Files() (map[string][]byte, error) {
	out := make(map[string][]byte, len(d.advisories))
	for _, a := range d.advisories {
		b := a.Raw()
		if b == nil {
			var err error
			if b, err = json.Marshal(a); err != nil {
				return nil, fmt.Errorf("advisory %s: %w", a.ID, err)
			}
		}
		out[a.ID+".json"] = b
	}
	return out, nil
}

// Len is the number of advisories.
func (d *Database) Len() int { return len(d.advisories) }

// Withdrawn counts the withdrawn advisories.
func (d *Database) Withdrawn() int {
	n := 0
	for _, a := range d.advisories {
		if a.Withdrawn != "" {
			n++
		}
	}
	return n
}

// Query is one Julia package version to audit.
type Query struct {
	Name    string
	UUID    julia.UUID // zero: match by name only
	Version string
}

// Finding is one advisory that affects one package version.
type Finding struct {
	Advisory *Advisory
	Name     string
	UUID     julia.UUID
	Version  string
	// Fixed is the version that fixes it, "" when none is known.
	Fixed  string
	Rating Rating
}

// ErrVersion marks a query whose version is not a Julia version number.
var ErrVersion = errors.New("not a version number")

// Match returns the findings for the queries: every non-withdrawn
// advisory whose affected versions include a queried version. Findings
// are sorted by severity (highest and unknown first), then package name,
// version and advisory id; a query given twice is reported once.
func (d *Database) Match(queries []Query) ([]Finding, error) {
	var out []Finding
	seen := map[string]bool{}
	for _, q := range queries {
		v, err := julia.ParseVersion(q.Version)
		if err != nil {
			return nil, fmt.Errorf("package %s@%s: %w: %w", q.Name, q.Version, ErrVersion, err)
		}
		cands := slices.Concat(d.byUUID[q.UUID], d.byName[q.Name])
		if q.UUID.IsZero() {
			cands = slices.Clone(d.byAnyName[q.Name])
		}
		slices.Sort(cands)
		cands = slices.Compact(cands)
		for _, i := range cands {
			a := d.advisories[i]
			ok, fixed, af := a.Affects(q.Name, q.UUID, v)
			if !ok {
				continue
			}
			key := a.ID + "\x00" + q.Name + "\x00" + q.UUID.String() + "\x00" + v.String()
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, Finding{Advisory: a, Name: q.Name, UUID: q.UUID, Version: q.Version, Fixed: fixed, Rating: a.Rate(af.Severity...)})
		}
	}
	slices.SortFunc(out, func(a, b Finding) int {
		return cmp.Or(
			-cmp.Compare(rank(a.Rating), rank(b.Rating)),
			cmp.Compare(a.Name, b.Name),
			compareVersionStrings(a.Version, b.Version),
			cmp.Compare(a.Advisory.ID, b.Advisory.ID),
		)
	})
	return out, nil
}

// rank orders ratings: unknown above critical (fail closed), then by
// severity.
func rank(r Rating) int {
	if !r.Known {
		return 5
	}
	return int(r.Severity)
}

func compareVersionStrings(a, b string) int {
	va, err1 := julia.ParseVersion(a)
	vb, err2 := julia.ParseVersion(b)
	if err1 != nil || err2 != nil {
		return strings.Compare(a, b)
	}
	return va.Compare(vb)
}
