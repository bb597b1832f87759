package julia

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Artifact is one entry of an Artifacts.toml: a platform-independent
// artifact (table form, Platform nil) or one platform's variant (array form).
type Artifact struct {
	Name     string
	TreeHash treehash.Hash
	Lazy     bool
	// Platform is nil for a platform-independent artifact.
	Platform *Platform
	// Downloads lists the mirrors of the tarball; it may be empty, and then
	// Pkg never downloads the artifact (it must be present or overridden).
	Downloads []Download
}

// Download is one [[<name>.download]] entry.
type Download struct {
	URL    string
	SHA256 string // 64 lowercase hex characters
	Size   int64  // 0 if absent
}

// ParseArtifacts parses an Artifacts.toml (or JuliaArtifacts.toml); name is
// used in error messages only. The result is ordered by artifact name, then
// by the order of the entries in the file. Each entry needs git-tree-sha1;
// array-form entries need os and arch, and their other string-valued keys
// become platform tags (pkg-protocol.md §8.1-8.2).
func ParseArtifacts(name string, data []byte) ([]Artifact, error) {
	raw, err := decodeTOML(name, data)
	if err != nil {
		return nil, err
	}
	var out []Artifact
	for _, an := range slices.Sorted(maps.Keys(raw)) {
		perr := func(e error, key ...string) error {
			return &ParseError{File: name, Key: keyPath(append([]string{an}, key...)...), Err: e}
		}
		switch v := raw[an].(type) {
		case map[string]any:
			a, key, err := artifactEntry(an, v, false)
			if err != nil {
				return nil, perr(err, key...)
			}
			out = append(out, a)
		case []any:
			for i, ev := range v {
				t, ok := ev.(map[string]any)
				if !ok {
					return nil, perr(errType("table", ev), fmt.Sprint(i))
				}
				a, key, err := artifactEntry(an, t, true)
				if err != nil {
					return nil, perr(err, append([]string{fmt.Sprint(i)}, key...)...)
				}
				out = append(out, a)
			}
		default:
			return nil, perr(errType("table or array of tables", v))
		}
	}
	return out, nil
}

func artifactEntry(name string, t map[string]any, platformed bool) (Artifact, []string, error) {
	a := Artifact{Name: name}
	hs, err := reqString(t, "git-tree-sha1")
	if err != nil {
		return a, []string{"git-tree-sha1"}, err
	}
	if a.TreeHash, err = parseHashLoose(hs); err != nil {
		return a, []string{"git-tree-sha1"}, err
	}
	if lv, ok := t["lazy"]; ok {
		if a.Lazy, ok = lv.(bool); !ok {
			return a, []string{"lazy"}, errType("boolean", lv)
		}
	}
	switch dv := t["download"].(type) {
	case nil:
	case []any:
		for i, x := range dv {
			dt, ok := x.(map[string]any)
			if !ok {
				return a, []string{"download", fmt.Sprint(i)}, errType("table", x)
			}
			d, key, err := artifactDownload(dt)
			if err != nil {
				return a, []string{"download", fmt.Sprint(i), key}, err
			}
			a.Downloads = append(a.Downloads, d)
		}
	case map[string]any:
		// A single [name.download] table: accepted as one mirror.
		d, key, err := artifactDownload(dv)
		if err != nil {
			return a, []string{"download", key}, err
		}
		a.Downloads = append(a.Downloads, d)
	default:
		return a, []string{"download"}, errType("array of tables", dv)
	}
	if !platformed {
		return a, nil, nil
	}
	arch, err := reqString(t, "arch")
	if err != nil {
		return a, []string{"arch"}, err
	}
	os, err := reqString(t, "os")
	if err != nil {
		return a, []string{"os"}, err
	}
	tags := map[string]string{}
	for k, v := range t {
		if s, ok := v.(string); ok && k != "arch" && k != "os" && k != "git-tree-sha1" {
			tags[k] = s
		}
	}
	p, err := NewPlatform(arch, os, tags)
	if err != nil {
		return a, nil, err
	}
	a.Platform = &p
	return a, nil, nil
}

func artifactDownload(t map[string]any) (Download, string, error) {
	var d Download
	var err error
	if d.URL, err = reqString(t, "url"); err != nil {
		return d, "url", err
	}
	if d.SHA256, err = reqString(t, "sha256"); err != nil {
		return d, "sha256", err
	}
	d.SHA256 = strings.ToLower(d.SHA256)
	if len(d.SHA256) != 64 || strings.Trim(d.SHA256, "0123456789abcdef") != "" {
		return d, "sha256", errf("%q is not 64 hex characters", d.SHA256)
	}
	if sv, ok := t["size"]; ok {
		n, ok := sv.(int64)
		if !ok || n < 0 {
			return d, "size", errf("want a non-negative integer, got %v", sv)
		}
		d.Size = n
	}
	return d, "", nil
}

// SelectArtifacts picks what to mirror for the target platforms
// (pkg-protocol.md §8.3 rec.): every platform-independent artifact, and
// every platform-specific entry that matches ANY target (not only the best
// one, since augmentation hooks choose among matching entries at install
// time). Targets are matched as hosts (see HostPlatform). Lazy artifacts
// are kept only if includeLazy. Entries without downloads are kept too (the
// caller decides; len(Downloads) == 0 means Pkg would never fetch it).
// The order of arts is preserved; nothing is de-duplicated (several entries
// may share a tree hash).
func SelectArtifacts(arts []Artifact, targets []Platform, includeLazy bool) []Artifact {
	var out []Artifact
	for _, a := range arts {
		if a.Lazy && !includeLazy {
			continue
		}
		if a.Platform == nil {
			out = append(out, a)
			continue
		}
		for _, t := range targets {
			if PlatformsMatch(*a.Platform, HostPlatform(t)) {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

// SelectBest is what Julia's artifact_meta/select_platform choose for
// artifact name on host (matched as a host platform): a platform-
// independent entry if there is one, else among the matching entries the
// one with the fewest tags not shared with the host, ties broken by the
// greatest triplet. Of entries with identical platforms the last wins.
func SelectBest(arts []Artifact, name string, host Platform) (Artifact, bool) {
	host = HostPlatform(host)
	var cands []Artifact
	for _, a := range arts {
		if a.Name != name {
			continue
		}
		if a.Platform == nil {
			return a, true
		}
		if !PlatformsMatch(*a.Platform, host) {
			continue
		}
		if i := slices.IndexFunc(cands, func(c Artifact) bool { return c.Platform.Equal(*a.Platform) }); i >= 0 {
			cands[i] = a
			continue
		}
		cands = append(cands, a)
	}
	if len(cands) == 0 {
		return Artifact{}, false
	}
	best := slices.MinFunc(cands, func(x, y Artifact) int { return comparePlatformChoice(*x.Platform, *y.Platform, host) })
	return best, true
}
