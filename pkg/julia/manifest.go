package julia

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Manifest is a parsed Manifest.toml of format v1, v2.0 or v2.1
// (pkg-protocol.md §9; Pkg src/manifest.jl).
type Manifest struct {
	// Format is "1.0" for the v1 layout (top-level [[Name]] arrays), else
	// the manifest_format value as major.minor ("2.0", "2.1").
	Format string
	// JuliaVersion is julia_version as written, "" if absent (always in v1).
	JuliaVersion string
	// ProjectHash is project_hash as written, "" if absent.
	ProjectHash string
	// Registries is the v2.1 [registries.<Name>] table, keyed by name.
	Registries map[string]ManifestRegistry
	// Entries are sorted by name, then uuid.
	Entries []ManifestEntry
}

// ManifestRegistry is one [registries.<Name>] table of a v2.1 manifest.
type ManifestRegistry struct {
	UUID UUID
	URL  string // optional
}

// ManifestEntry is one package entry of a manifest.
type ManifestEntry struct {
	Name       string
	UUID       UUID
	Version    string        // as written; "" if absent (v1 stdlibs)
	TreeHash   treehash.Hash // zero if absent
	Path       string
	RepoURL    string
	RepoRev    string
	RepoSubdir string
	// Deps maps dependency name → uuid. The list form of deps is resolved
	// through the manifest's (then necessarily unique) entry names.
	Deps map[string]UUID
	// WeakDeps is Deps for weakdeps.
	WeakDeps map[string]UUID
	// Extensions maps extension name → the weak deps that trigger it.
	Extensions map[string][]string
	// Registries names the registries (v2.1) the entry was resolved from.
	Registries []string
	Pinned     bool
}

// Fetchable reports whether e tracks a registered version a Pkg server can
// serve: it has a git-tree-sha1 and neither path nor repo-url. Stdlibs
// normally have no git-tree-sha1; upgradable stdlibs that have one are
// fetched like any package (pkg-protocol.md §9.3).
func (e ManifestEntry) Fetchable() bool {
	return !e.TreeHash.IsZero() && e.Path == "" && e.RepoURL == ""
}

// ParseManifest parses a manifest; name is used in error messages only.
// The format is detected as Julia does: v1 iff there is no top-level
// manifest_format string. An empty file is an empty v2.0 manifest. Like
// Pkg, it checks the dependency graph: list-form deps must name exactly one
// entry, and every strong dependency must be an entry of the manifest with
// that name.
func ParseManifest(name string, data []byte) (*Manifest, error) {
	raw, err := decodeTOML(name, data)
	if err != nil {
		return nil, err
	}
	perr := func(e error, key ...string) error { return &ParseError{File: name, Key: keyPath(key...), Err: e} }
	man := &Manifest{Format: "2.0"}
	var deps map[string]any
	prefix := []string{"deps"}
	mf, hasFormat := raw["manifest_format"].(string)
	switch {
	case len(raw) == 0:
	case !hasFormat:
		if t, ok := raw["manifest_format"].(map[string]any); ok && t["uuid"] == nil {
			return nil, perr(errType("string", t), "manifest_format")
		}
		man.Format = "1.0"
		deps = raw
		prefix = nil
	default:
		v, err := ParseVersion(mf)
		if err != nil {
			return nil, perr(err, "manifest_format")
		}
		man.Format = fmt.Sprintf("%d.%d", v.Major, v.Minor)
		if man.JuliaVersion, err = optString(raw, "julia_version"); err != nil {
			return nil, perr(err, "julia_version")
		}
		if man.JuliaVersion != "" {
			if _, err := ParseVersion(man.JuliaVersion); err != nil {
				return nil, perr(err, "julia_version")
			}
		}
		if man.ProjectHash, err = optString(raw, "project_hash"); err != nil {
			return nil, perr(err, "project_hash")
		}
		if man.ProjectHash != "" {
			if _, err := parseHashLoose(man.ProjectHash); err != nil {
				return nil, perr(err, "project_hash")
			}
		}
		if dv, ok := raw["deps"]; ok {
			if deps, ok = dv.(map[string]any); !ok {
				return nil, perr(errType("table", dv), "deps")
			}
		}
		if rv, ok := raw["registries"]; ok {
			rt, ok := rv.(map[string]any)
			if !ok {
				return nil, perr(errType("table", rv), "registries")
			}
			man.Registries = map[string]ManifestRegistry{}
			for rn, v := range rt {
				t, ok := v.(map[string]any)
				if !ok {
					return nil, perr(errType("table", v), "registries", rn)
				}
				us, err := reqString(t, "uuid")
				if err != nil {
					return nil, perr(err, "registries", rn, "uuid")
				}
				var mr ManifestRegistry
				if mr.UUID, err = uuidLoose(us); err != nil {
					return nil, perr(err, "registries", rn, "uuid")
				}
				if mr.URL, err = optString(t, "url"); err != nil {
					return nil, perr(err, "registries", rn, "url")
				}
				man.Registries[rn] = mr
			}
		}
	}

	type stage1 struct {
		idx              int
		deps, weak       any
		depsKey, weakKey []string
	}
	byName := map[string][]int{}
	var pending []stage1
	for pname, v := range deps {
		key := append(slices.Clone(prefix), pname)
		arr, ok := v.([]any)
		if !ok {
			return nil, perr(errType("array of tables", v), key...)
		}
		for i, ev := range arr {
			ekey := append(slices.Clone(key), fmt.Sprint(i))
			t, ok := ev.(map[string]any)
			if !ok {
				return nil, perr(errType("table", ev), ekey...)
			}
			e, err := manifestEntry(pname, t)
			if err != nil {
				var ke *keyErr
				if errors.As(err, &ke) {
					return nil, perr(ke.err, append(ekey, ke.key)...)
				}
				return nil, perr(err, ekey...)
			}
			man.Entries = append(man.Entries, e)
			idx := len(man.Entries) - 1
			byName[pname] = append(byName[pname], idx)
			pending = append(pending, stage1{idx, t["deps"], t["weakdeps"],
				append(slices.Clone(ekey), "deps"), append(slices.Clone(ekey), "weakdeps")})
		}
	}
	byUUID := map[UUID]int{}
	for i, e := range man.Entries {
		byUUID[e.UUID] = i
	}
	for _, s := range pending {
		e := &man.Entries[s.idx]
		var err error
		if e.Deps, err = readDeps(s.deps, byName, man.Entries); err != nil {
			return nil, perr(err, s.depsKey...)
		}
		if e.WeakDeps, err = readDeps(s.weak, byName, man.Entries); err != nil {
			return nil, perr(err, s.weakKey...)
		}
	}
	for _, s := range pending {
		e := man.Entries[s.idx]
		for dn, du := range e.Deps {
			j, ok := byUUID[du]
			if !ok {
				return nil, perr(errf("%s=%s depends on %s=%s, but no such entry exists", e.Name, e.UUID, dn, du), s.depsKey...)
			}
			if man.Entries[j].Name != dn {
				return nil, perr(errf("%s=%s depends on %s=%s, but that entry is named %s", e.Name, e.UUID, dn, du, man.Entries[j].Name), s.depsKey...)
			}
		}
	}
	slices.SortFunc(man.Entries, func(a, b ManifestEntry) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.UUID.String(), b.UUID.String()))
	})
	return man, nil
}

type keyErr struct {
	key string
	err error
}

func (k *keyErr) Error() string { return k.key + ": " + k.err.Error() }

func manifestEntry(name string, t map[string]any) (ManifestEntry, error) {
	e := ManifestEntry{Name: name}
	str := func(key string) (string, error) {
		s, err := optString(t, key)
		if err != nil {
			return "", &keyErr{key, err}
		}
		return s, nil
	}
	us, err := reqString(t, "uuid")
	if err != nil {
		return e, &keyErr{"uuid", err}
	}
	if e.UUID, err = uuidLoose(us); err != nil {
		return e, &keyErr{"uuid", err}
	}
	if e.Version, err = str("version"); err != nil {
		return e, err
	}
	if e.Version != "" {
		if _, err := ParseVersion(e.Version); err != nil {
			return e, &keyErr{"version", err}
		}
	}
	hs, err := str("git-tree-sha1")
	if err != nil {
		return e, err
	}
	if _, ok := t["git-tree-sha1"]; ok {
		if e.TreeHash, err = parseHashLoose(hs); err != nil {
			return e, &keyErr{"git-tree-sha1", err}
		}
		if e.TreeHash.IsZero() {
			// Not "no tree hash": the key is there, with a value no
			// tree has. Taking it for absent would leave the package out.
			return e, &keyErr{"git-tree-sha1", fmt.Errorf("%q is not a tree hash (forty zeros): %w", hs, ErrMalformed)}
		}
	}
	if e.Path, err = str("path"); err != nil {
		return e, err
	}
	if e.RepoURL, err = str("repo-url"); err != nil {
		return e, err
	}
	if e.RepoRev, err = str("repo-rev"); err != nil {
		return e, err
	}
	if e.RepoSubdir, err = str("repo-subdir"); err != nil {
		return e, err
	}
	if pv, ok := t["pinned"]; ok {
		if e.Pinned, ok = pv.(bool); !ok {
			return e, &keyErr{"pinned", errType("boolean", pv)}
		}
	}
	switch rv := t["registries"].(type) {
	case nil:
	case string:
		e.Registries = []string{rv}
	case []any:
		for _, x := range rv {
			s, ok := x.(string)
			if !ok {
				return e, &keyErr{"registries", errType("string", x)}
			}
			e.Registries = append(e.Registries, s)
		}
	default:
		return e, &keyErr{"registries", errType("string or array", rv)}
	}
	if xv, ok := t["extensions"]; ok {
		xt, ok := xv.(map[string]any)
		if !ok {
			return e, &keyErr{"extensions", errType("table", xv)}
		}
		e.Extensions = map[string][]string{}
		for xn, v := range xt {
			switch tv := v.(type) {
			case string:
				e.Extensions[xn] = []string{tv}
			case []any:
				for _, x := range tv {
					s, ok := x.(string)
					if !ok {
						return e, &keyErr{"extensions", errType("string", x)}
					}
					e.Extensions[xn] = append(e.Extensions[xn], s)
				}
			default:
				return e, &keyErr{"extensions", errType("string or array", v)}
			}
		}
	}
	return e, nil
}

// readDeps turns a deps/weakdeps value (nil, list of names or name → uuid
// table) into a map, resolving names through byName as Pkg does.
func readDeps(v any, byName map[string][]int, entries []ManifestEntry) (map[string]UUID, error) {
	out := map[string]UUID{}
	switch x := v.(type) {
	case nil:
	case []any:
		for _, dv := range x {
			dn, ok := dv.(string)
			if !ok {
				return nil, errType("string", dv)
			}
			if _, dup := out[dn]; dup {
				return nil, errf("duplicate entry %q", dn)
			}
			idx := byName[dn]
			if len(idx) != 1 {
				return nil, errf("dependency on %q is ambiguous or has no entry (%d entries)", dn, len(idx))
			}
			out[dn] = entries[idx[0]].UUID
		}
	case map[string]any:
		for dn, uv := range x {
			us, ok := uv.(string)
			if !ok {
				return nil, &keyErr{dn, errType("string", uv)}
			}
			u, err := uuidLoose(us)
			if err != nil {
				return nil, &keyErr{dn, err}
			}
			out[dn] = u
		}
	default:
		return nil, errType("list or table", v)
	}
	return out, nil
}

// FindManifest returns the name of the manifest file Julia would use in the
// project directory fsys, first found of: JuliaManifest-v<maj>.<min>.toml,
// Manifest-v<maj>.<min>.toml (only when juliaVersion is at least 1.10.8),
// JuliaManifest.toml, Manifest.toml. juliaVersion may be "" (no versioned
// names). It returns an error wrapping fs.ErrNotExist when none exists.
func FindManifest(fsys fs.FS, juliaVersion string) (string, error) {
	var names []string
	if juliaVersion != "" {
		v, err := ParseVersion(juliaVersion)
		if err != nil {
			return "", err
		}
		if v.Compare(Version{Major: 1, Minor: 10, Patch: 8}) >= 0 {
			names = append(names,
				fmt.Sprintf("JuliaManifest-v%d.%d.toml", v.Major, v.Minor),
				fmt.Sprintf("Manifest-v%d.%d.toml", v.Major, v.Minor))
		}
	}
	names = append(names, "JuliaManifest.toml", "Manifest.toml")
	for _, n := range names {
		st, err := fs.Stat(fsys, n)
		if err == nil && !st.IsDir() {
			return n, nil
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("no manifest (%s): %w", strings.Join(names, ", "), fs.ErrNotExist)
}
