package julia

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Registry is a parsed Registry.toml (pkg-protocol.md §7.3).
type Registry struct {
	Name        string
	UUID        UUID
	Repo        string // optional
	Description string // optional
	// Packages maps each package uuid to its name and directory.
	Packages map[UUID]RegistryPackage
}

// RegistryPackage is one line of Registry.toml's [packages] table.
type RegistryPackage struct {
	Name string
	// Path is the package directory relative to the registry root, in
	// slash form; ReadRegistry checks that it is a valid fs.FS path.
	Path string
}

// ReadRegistry reads Registry.toml at the root of fsys.
func ReadRegistry(fsys fs.FS) (*Registry, error) {
	data, err := readFile(fsys, "Registry.toml")
	if err != nil {
		return nil, err
	}
	return ParseRegistry(data)
}

// ParseRegistry parses the bytes of a Registry.toml. Required keys: name,
// uuid, packages (each with name and path); optional: repo, description.
func ParseRegistry(data []byte) (*Registry, error) { return parseRegistry(data, true) }

// parseRegistry is ParseRegistry; allowFast lets it read the [packages]
// table with fastPackages (tests compare both ways).
func parseRegistry(data []byte, allowFast bool) (*Registry, error) {
	const file = "Registry.toml"
	perr := func(e error, key ...string) error { return &ParseError{File: file, Key: keyPath(key...), Err: e} }
	var rest []byte
	var fast map[UUID]RegistryPackage
	var dup string
	ok := false
	if allowFast {
		rest, fast, dup, ok = fastPackages(data)
	}
	if ok && dup != "" {
		return nil, perr(errf("duplicate uuid"), "packages", dup)
	}
	if !ok {
		rest = data
	}
	m, err := decodeTOML(file, rest)
	if err != nil {
		if ok {
			// The fast path blanked a table the decoder would have
			// named the problem in: decode the file as it is.
			if m, err = decodeTOML(file, data); err == nil {
				ok = false
			}
		}
		if err != nil {
			return nil, err
		}
	}
	r := &Registry{Packages: map[UUID]RegistryPackage{}}
	if r.Name, err = reqString(m, "name"); err != nil {
		return nil, perr(err, "name")
	}
	us, err := reqString(m, "uuid")
	if err != nil {
		return nil, perr(err, "uuid")
	}
	if r.UUID, err = uuidLoose(us); err != nil {
		return nil, perr(err, "uuid")
	}
	if r.Repo, err = optString(m, "repo"); err != nil {
		return nil, perr(err, "repo")
	}
	if r.Description, err = optString(m, "description"); err != nil {
		return nil, perr(err, "description")
	}
	pv, has := m["packages"]
	if !has {
		return nil, perr(errf("missing"), "packages")
	}
	pkgs, isTable := pv.(map[string]any)
	if !isTable {
		return nil, perr(errType("table", pv), "packages")
	}
	if ok {
		if len(pkgs) > 0 {
			return nil, perr(errf("duplicate table"), "packages")
		}
		r.Packages = fast
		return r, nil
	}
	for k, v := range pkgs {
		u, err := uuidLoose(k)
		if err != nil {
			return nil, perr(err, "packages", k)
		}
		t, ok := v.(map[string]any)
		if !ok {
			return nil, perr(errType("table", v), "packages", k)
		}
		var p RegistryPackage
		if p.Name, err = reqString(t, "name"); err != nil {
			return nil, perr(err, "packages", k, "name")
		}
		if p.Path, err = reqString(t, "path"); err != nil {
			return nil, perr(err, "packages", k, "path")
		}
		if !fs.ValidPath(p.Path) || p.Path == "." {
			return nil, perr(errf("path %q is not a clean relative path", p.Path), "packages", k, "path")
		}
		if _, dup := r.Packages[u]; dup {
			return nil, perr(errf("duplicate uuid"), "packages", k)
		}
		r.Packages[u] = p
	}
	return r, nil
}

// Lookup returns the uuids of the packages named name, sorted.
func (r *Registry) Lookup(name string) []UUID {
	var out []UUID
	for u, p := range r.Packages {
		if p.Name == name {
			out = append(out, u)
		}
	}
	slices.SortFunc(out, func(a, b UUID) int { return strings.Compare(a.String(), b.String()) })
	return out
}

// LoadPackage reads the package uuid from fsys (the registry's files) and
// checks that its Package.toml agrees with Registry.toml on name and uuid.
func (r *Registry) LoadPackage(fsys fs.FS, uuid UUID) (*Package, error) {
	return r.loadPackage(fsys, uuid, true)
}

// LoadVersions is LoadPackage without the dependency files (Deps,
// Compat, WeakDeps, WeakCompat are left empty, and not read): what a
// check of which versions a registry lists needs, at a fraction of the
// parsing.
func (r *Registry) LoadVersions(fsys fs.FS, uuid UUID) (*Package, error) {
	return r.loadPackage(fsys, uuid, false)
}

func (r *Registry) loadPackage(fsys fs.FS, uuid UUID, deps bool) (*Package, error) {
	rp, ok := r.Packages[uuid]
	if !ok {
		return nil, fmt.Errorf("package %s: not in registry %s: %w", uuid, r.Name, fs.ErrNotExist)
	}
	p, err := readPackage(fsys, rp.Path, deps)
	if err != nil {
		return nil, err
	}
	file := path.Join(rp.Path, "Package.toml")
	if p.Name != rp.Name {
		return nil, &ParseError{File: file, Key: "name", Err: errf("%q, but Registry.toml says %q", p.Name, rp.Name)}
	}
	if p.UUID != uuid {
		return nil, &ParseError{File: file, Key: "uuid", Err: errf("%s, but Registry.toml says %s", p.UUID, uuid)}
	}
	return p, nil
}

// Package is one registry package directory: Package.toml, Versions.toml
// and the optional Deps/Compat/WeakDeps/WeakCompat.toml.
type Package struct {
	Name   string
	UUID   UUID
	Repo   string // optional
	Subdir string // optional: the package lives in this directory of Repo
	// Deprecated is Package.toml's [metadata.deprecated] table, nil if absent.
	Deprecated map[string]any
	// Versions is keyed by the version string exactly as in Versions.toml.
	Versions   map[string]VersionInfo
	Deps       []RangeTable[UUID]
	Compat     []RangeTable[VersionSpec]
	WeakDeps   []RangeTable[UUID]
	WeakCompat []RangeTable[VersionSpec]
}

// VersionInfo is one Versions.toml entry.
type VersionInfo struct {
	Version  Version
	TreeHash treehash.Hash
	Yanked   bool
}

// RangeTable is one table of Deps.toml and friends: the entries that hold
// for every version in Range. Key is the table name as in the file. For
// Deps/WeakDeps Entries maps dep name → uuid; for Compat/WeakCompat dep name
// (or "julia") → version spec (registry range syntax, ParseRegistrySpec).
type RangeTable[T any] struct {
	Key     string
	Range   VersionRange
	Entries map[string]T
}

// ReadPackage reads the package directory dir of a registry in fsys.
// Package.toml and Versions.toml are required; the others are optional.
func ReadPackage(fsys fs.FS, dir string) (*Package, error) { return readPackage(fsys, dir, true) }

func readPackage(fsys fs.FS, dir string, deps bool) (*Package, error) {
	p := &Package{Versions: map[string]VersionInfo{}}
	file := path.Join(dir, "Package.toml")
	data, err := readFile(fsys, file)
	if err != nil {
		return nil, err
	}
	m, err := decodeTOML(file, data)
	if err != nil {
		return nil, err
	}
	perr := func(f string, e error, key ...string) error {
		return &ParseError{File: f, Key: keyPath(key...), Err: e}
	}
	if p.Name, err = reqString(m, "name"); err != nil {
		return nil, perr(file, err, "name")
	}
	us, err := reqString(m, "uuid")
	if err != nil {
		return nil, perr(file, err, "uuid")
	}
	if p.UUID, err = uuidLoose(us); err != nil {
		return nil, perr(file, err, "uuid")
	}
	if p.Repo, err = optString(m, "repo"); err != nil {
		return nil, perr(file, err, "repo")
	}
	if p.Subdir, err = optString(m, "subdir"); err != nil {
		return nil, perr(file, err, "subdir")
	}
	if md, ok := m["metadata"]; ok {
		mt, ok := md.(map[string]any)
		if !ok {
			return nil, perr(file, errType("table", md), "metadata")
		}
		if dv, ok := mt["deprecated"]; ok {
			if p.Deprecated, ok = dv.(map[string]any); !ok {
				return nil, perr(file, errType("table", dv), "metadata", "deprecated")
			}
		}
	}

	file = path.Join(dir, "Versions.toml")
	if data, err = readFile(fsys, file); err != nil {
		return nil, err
	}
	if m, err = decodeTOML(file, data); err != nil {
		return nil, err
	}
	for k, v := range m {
		ver, err := ParseVersion(k)
		if err != nil {
			return nil, perr(file, err, k)
		}
		t, ok := v.(map[string]any)
		if !ok {
			return nil, perr(file, errType("table", v), k)
		}
		info := VersionInfo{Version: ver}
		hs, err := reqString(t, "git-tree-sha1")
		if err != nil {
			return nil, perr(file, err, k, "git-tree-sha1")
		}
		if info.TreeHash, err = parseHashLoose(hs); err != nil {
			return nil, perr(file, err, k, "git-tree-sha1")
		}
		if y, ok := t["yanked"]; ok {
			if info.Yanked, ok = y.(bool); !ok {
				return nil, perr(file, errType("boolean", y), k, "yanked")
			}
		}
		p.Versions[k] = info
	}
	if !deps {
		return p, nil
	}

	if p.Deps, err = readRangeFile(fsys, path.Join(dir, "Deps.toml"), depValue); err != nil {
		return nil, err
	}
	if p.WeakDeps, err = readRangeFile(fsys, path.Join(dir, "WeakDeps.toml"), depValue); err != nil {
		return nil, err
	}
	if p.Compat, err = readRangeFile(fsys, path.Join(dir, "Compat.toml"), compatValue); err != nil {
		return nil, err
	}
	if p.WeakCompat, err = readRangeFile(fsys, path.Join(dir, "WeakCompat.toml"), compatValue); err != nil {
		return nil, err
	}
	return p, nil
}

func depValue(v any) (UUID, error) {
	s, ok := v.(string)
	if !ok {
		return UUID{}, errType("string", v)
	}
	return uuidLoose(s)
}

func compatValue(v any) (VersionSpec, error) {
	switch x := v.(type) {
	case string:
		return ParseRegistrySpec(x)
	case []any:
		ss := make([]string, 0, len(x))
		for _, e := range x {
			s, ok := e.(string)
			if !ok {
				return VersionSpec{}, errType("string", e)
			}
			ss = append(ss, s)
		}
		return ParseRegistrySpec(ss...)
	}
	return VersionSpec{}, errType("string or array of strings", v)
}

// readRangeFile reads an optional range-keyed file; a missing file gives nil.
func readRangeFile[T any](fsys fs.FS, file string, conv func(any) (T, error)) ([]RangeTable[T], error) {
	data, err := readFile(fsys, file)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, err
	}
	m, err := decodeTOML(file, data)
	if err != nil {
		return nil, err
	}
	out := make([]RangeTable[T], 0, len(m))
	for k, v := range m {
		r, err := ParseRangeKey(k)
		if err != nil {
			return nil, &ParseError{File: file, Key: keyPath(k), Err: err}
		}
		t, ok := v.(map[string]any)
		if !ok {
			return nil, &ParseError{File: file, Key: keyPath(k), Err: errType("table", v)}
		}
		rt := RangeTable[T]{Key: k, Range: r, Entries: make(map[string]T, len(t))}
		for name, ev := range t {
			x, err := conv(ev)
			if err != nil {
				return nil, &ParseError{File: file, Key: keyPath(k, name), Err: err}
			}
			rt.Entries[name] = x
		}
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b RangeTable[T]) int {
		if isLessLL(a.Range.Lower, b.Range.Lower) {
			return -1
		}
		if isLessLL(b.Range.Lower, a.Range.Lower) {
			return 1
		}
		return cmp.Compare(a.Key, b.Key)
	})
	return out, nil
}

func isNotExist(err error) bool {
	return err != nil && (errors.Is(err, fs.ErrNotExist))
}

// SortedVersions returns the versions of p, oldest first.
func (p *Package) SortedVersions() []VersionInfo {
	out := make([]VersionInfo, 0, len(p.Versions))
	for _, v := range p.Versions {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b VersionInfo) int { return a.Version.Compare(b.Version) })
	return out
}

// Lookup returns the entry for version v (compared as versions, so "1.3.1+0"
// is found for 1.3.1+0 whatever its spelling in the file).
func (p *Package) Lookup(v Version) (VersionInfo, bool) {
	if vi, ok := p.Versions[v.String()]; ok {
		return vi, true
	}
	for _, vi := range p.Versions {
		if vi.Version.Equal(v) {
			return vi, true
		}
	}
	return VersionInfo{}, false
}

// DepsOf returns the strong dependencies (name → uuid) of version v,
// merged over every Deps.toml range that contains v.
func (p *Package) DepsOf(v Version) map[string]UUID { return mergeDeps(p.Deps, v) }

// WeakDepsOf is DepsOf for WeakDeps.toml.
func (p *Package) WeakDepsOf(v Version) map[string]UUID { return mergeDeps(p.WeakDeps, v) }

// CompatOf returns the compat constraints (dep name or "julia" → spec) of
// version v, merged over every Compat.toml range that contains v. Pkg
// rejects a registry where two such ranges constrain the same name; here
// the constraints are intersected instead.
func (p *Package) CompatOf(v Version) map[string]VersionSpec { return mergeCompat(p.Compat, v) }

// WeakCompatOf is CompatOf for WeakCompat.toml.
func (p *Package) WeakCompatOf(v Version) map[string]VersionSpec { return mergeCompat(p.WeakCompat, v) }

func mergeDeps(ts []RangeTable[UUID], v Version) map[string]UUID {
	out := map[string]UUID{}
	for _, t := range ts {
		if !t.Range.Contains(v) {
			continue
		}
		for k, u := range t.Entries {
			if _, ok := out[k]; !ok {
				out[k] = u
			}
		}
	}
	return out
}

func mergeCompat(ts []RangeTable[VersionSpec], v Version) map[string]VersionSpec {
	out := map[string]VersionSpec{}
	for _, t := range ts {
		if !t.Range.Contains(v) {
			continue
		}
		for k, s := range t.Entries {
			if prev, ok := out[k]; ok {
				out[k] = prev.Intersect(s)
			} else {
				out[k] = s
			}
		}
	}
	return out
}

func reqString(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok {
		return "", errf("missing")
	}
	s, ok := v.(string)
	if !ok {
		return "", errType("string", v)
	}
	return s, nil
}

func optString(m map[string]any, key string) (string, error) {
	v, ok := m[key]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", errType("string", v)
	}
	return s, nil
}

// parseHashLoose parses a git-tree-sha1 as Julia does, accepting uppercase.
func parseHashLoose(s string) (treehash.Hash, error) {
	h, err := treehash.Parse(strings.ToLower(s))
	if err != nil {
		return h, fmt.Errorf("%w: %w", err, ErrMalformed)
	}
	return h, nil
}
