package sbom

import (
	"cmp"
	"context"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/advisory"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// Options tune Collect. The zero value works.
type Options struct {
	// Name names the bundle in the document ("stick:2026-11"); empty
	// means its digest.
	Name string
	// ToolName and ToolVersion name the program describing the bundle
	// (default "shoebox", "unknown").
	ToolName, ToolVersion string
	// Manifests, when given, say exactly what each version they pin
	// depends on (the bundle was made from them).
	Manifests []*julia.Manifest
	// Advisories, when given, are matched against every package version:
	// the findings become the document's vulnerabilities. Nil means the
	// advisories the bundle carries, if any.
	Advisories *advisory.Database
	// Provenance are the bundle's provenance records (bundle.ReadProvenance
	// of its referrers): where the pusher says it got each item. They are
	// unsigned; the document says so wherever it uses them.
	Provenance []*bundle.Provenance
}

// Document is what Collect found, ready to render.
type Document struct {
	Name        string
	Index       ocispec.Descriptor
	Created     time.Time
	ToolName    string
	ToolVersion string
	// Annotations of the bundle index (tool version, platforms, inputs…).
	Annotations map[string]string
	Components  []*Component
	Findings    []advisory.Finding
	// AdvisoryCount is the number of advisories matched against (0 with
	// no database).
	AdvisoryCount int
	// Provenance are the manifests of the provenance records used,
	// sorted by digest.
	Provenance []ocispec.Descriptor
	// Warnings say what of the provenance records was ignored (an item
	// the bundle does not hold).
	Warnings []string
}

// Source is where the pusher reported getting a component's tarball, in
// a provenance record (unsigned: whoever can write the store can write
// one).
type Source struct {
	Method bundle.Method
	// URL is where it was fetched or packed from; "" for reused and
	// inventory, and for a packed item whose source was no location.
	URL string
	// Record is the digest of the first record (by digest) that says so.
	Record digest.Digest
}

// Component is one registry snapshot, package version or artifact.
type Component struct {
	Kind     bundle.Kind
	Name     string
	Version  string // packages
	UUID     julia.UUID
	TreeHash string
	Platform string // artifacts
	Registry string // packages: the registry that listed the version
	Repo     string // packages: the repository Package.toml names
	// SHA256 is the hex digest of the tarball, Size its bytes.
	SHA256   string
	Size     int64
	Manifest string // the item manifest's digest
	// Downloads are an artifact's download URLs from Artifacts.toml.
	Downloads []julia.Download
	// DependsOn are the refs of the components this one depends on.
	DependsOn []string
	// Sources are where the provenance records say the tarball came from,
	// sorted by method and URL; a record that names where it came from
	// hides one that says it was reused or not carried.
	Sources []Source

	ref string
}

// Ref is the component's identity in the document: its purl for package
// versions, "artifact:<tree hash>[:<platform>]" and
// "registry:<uuid>:<tree hash>" otherwise.
func (c *Component) Ref() string { return c.ref }

// Purl is a package version's purl, "" for other kinds.
func (c *Component) Purl() string {
	if c.Kind != bundle.KindPackage {
		return ""
	}
	return advisory.Purl{Name: c.Name, Version: c.Version, UUID: c.UUID, HasUUID: true}.String()
}

// Collect reads the bundle whose top index is index from src and describes
// it. It fetches the index (and nested ones), every package item manifest
// (for its Artifacts.toml files) and every registry snapshot tarball (for
// Deps.toml and Compat.toml); each is digest-verified as it is read.
func Collect(ctx context.Context, src content.Fetcher, index ocispec.Descriptor, opts Options) (*Document, error) {
	b, err := bundle.Read(ctx, src, index)
	if err != nil {
		return nil, err
	}
	d := &Document{Name: opts.Name, Index: index, Created: b.Created, ToolName: cmp.Or(opts.ToolName, "shoebox"),
		ToolVersion: cmp.Or(opts.ToolVersion, "unknown"), Annotations: b.Annotations}
	if d.Name == "" {
		d.Name = index.Digest.String()
	}
	type regSnap struct {
		e    bundle.Entry
		fsys fs.FS
		reg  *julia.Registry
	}
	var regs []*regSnap
	byUUID := map[julia.UUID][]*Component{}
	arts := map[string][]*Component{} // tree hash → artifact components
	var pkgEntries []bundle.Entry
	for _, e := range b.Entries {
		c := &Component{Kind: e.Kind, Name: e.Name, UUID: e.UUID, TreeHash: e.TreeHash.String(), Platform: e.Platform,
			Registry: e.Registry, SHA256: e.Whole.Digest.Encoded(), Size: e.Whole.Size, Manifest: e.Manifest.Digest.String()}
		switch e.Kind {
		case bundle.KindRegistry:
			c.ref = "registry:" + e.UUID.String() + ":" + c.TreeHash
			d.Components = append(d.Components, c)
			fsys, reg, err := bundle.ReadRegistry(ctx, src, e)
			if err != nil {
				return nil, err
			}
			regs = append(regs, &regSnap{e: e, fsys: fsys, reg: reg})
		case bundle.KindPackage:
			pkgEntries = append(pkgEntries, e)
			versions := e.Versions
			if len(versions) == 0 {
				versions = []string{""}
			}
			for _, v := range versions {
				pc := *c
				pc.Version = v
				pc.ref = pc.Purl()
				if v == "" {
					pc.ref = "package:" + e.UUID.String() + ":" + pc.TreeHash
				}
				d.Components = append(d.Components, &pc)
				byUUID[e.UUID] = append(byUUID[e.UUID], &pc)
			}
		case bundle.KindAdvisories:
			c.ref = "advisories:" + c.TreeHash
			c.Name = "security advisories (OSV)"
			d.Components = append(d.Components, c)
		case bundle.KindArtifact:
			c.ref = "artifact:" + c.TreeHash
			if c.Platform != "" {
				c.ref += ":" + c.Platform
			}
			d.Components = append(d.Components, c)
			arts[c.TreeHash] = append(arts[c.TreeHash], c)
		}
	}
	// Package manifests: the Artifacts.toml files bind artifacts (and give
	// their download URLs); registries give repos and dependencies.
	pinned := map[string]map[string]julia.UUID{} // purl → deps from a manifest
	for _, m := range opts.Manifests {
		for _, me := range m.Entries {
			if me.Version == "" || me.UUID.IsZero() {
				continue
			}
			p := advisory.Purl{Name: me.Name, Version: me.Version, UUID: me.UUID, HasUUID: true}.String()
			pinned[p] = me.Deps
		}
	}
	for _, e := range pkgEntries {
		it, err := bundle.ReadItem(ctx, src, e.IndexDescriptor())
		if err != nil {
			return nil, err
		}
		var bound []*Component
		for _, path := range sortedKeys(it.ArtifactsTOML) {
			list, err := julia.ParseArtifacts(e.Name+"/"+path, []byte(it.ArtifactsTOML[path]))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", e.Item, err)
			}
			for _, a := range list {
				for _, ac := range arts[a.TreeHash.String()] {
					if !slices.Contains(bound, ac) {
						bound = append(bound, ac)
					}
					for _, dl := range a.Downloads {
						if !slices.Contains(ac.Downloads, dl) {
							ac.Downloads = append(ac.Downloads, dl)
						}
					}
				}
			}
		}
		var reg *regSnap
		for _, r := range regs {
			if _, ok := r.reg.Packages[e.UUID]; ok && (e.Registry == "" || r.reg.Name == e.Registry) {
				if reg == nil { // a bundle holds one snapshot per registry
					reg = r
				}
			}
		}
		var pkg *julia.Package
		if reg != nil {
			if pkg, err = reg.reg.LoadPackage(reg.fsys, e.UUID); err != nil {
				return nil, fmt.Errorf("%s: %w", reg.e.Item, err)
			}
		}
		for _, c := range byUUID[e.UUID] {
			if c.TreeHash != e.TreeHash.String() {
				continue
			}
			if pkg != nil {
				c.Repo = pkg.Repo
			}
			for _, a := range bound {
				c.DependsOn = append(c.DependsOn, a.ref)
			}
			if deps, ok := pinned[c.ref]; ok {
				for _, u := range deps {
					for _, dc := range byUUID[u] {
						if p, ok := findPinned(opts.Manifests, u); ok && p == dc.Version {
							c.DependsOn = append(c.DependsOn, dc.ref)
						}
					}
				}
				continue
			}
			if pkg == nil || c.Version == "" {
				continue
			}
			v, err := julia.ParseVersion(c.Version)
			if err != nil {
				continue
			}
			compat := pkg.CompatOf(v)
			for name, u := range pkg.DepsOf(v) {
				spec, constrained := compat[name]
				for _, dc := range byUUID[u] {
					dv, err := julia.ParseVersion(dc.Version)
					if err != nil || constrained && !spec.Contains(dv) {
						continue
					}
					c.DependsOn = append(c.DependsOn, dc.ref)
				}
			}
		}
	}
	for _, c := range d.Components {
		slices.Sort(c.DependsOn)
		c.DependsOn = slices.Compact(c.DependsOn)
		c.Downloads = slices.Clone(c.Downloads)
		slices.SortFunc(c.Downloads, func(a, b julia.Download) int { return strings.Compare(a.URL, b.URL) })
	}
	slices.SortStableFunc(d.Components, compareComponents)
	d.applyProvenance(opts.Provenance)
	if opts.Advisories == nil {
		if opts.Advisories, err = BundleAdvisories(ctx, src, b); err != nil {
			return nil, err
		}
	}
	if opts.Advisories != nil {
		d.AdvisoryCount = opts.Advisories.Len()
		var qs []advisory.Query
		for _, c := range d.Components {
			if c.Kind == bundle.KindPackage && c.Version != "" {
				qs = append(qs, advisory.Query{Name: c.Name, UUID: c.UUID, Version: c.Version})
			}
		}
		if d.Findings, err = opts.Advisories.Match(qs); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// applyProvenance gives each component the sources the records name for
// its tarball (matched by digest, kind and tree hash).
func (d *Document) applyProvenance(records []*bundle.Provenance) {
	records = slices.Clone(records)
	slices.SortFunc(records, func(a, b *bundle.Provenance) int {
		return strings.Compare(string(a.Manifest.Digest), string(b.Manifest.Digest))
	})
	type key struct {
		kind     bundle.Kind
		tree     string
		sha256   string
		platform string
	}
	byKey := map[key][]*Component{}
	for _, c := range d.Components {
		byKey[key{c.Kind, c.TreeHash, c.SHA256, c.Platform}] = append(byKey[key{c.Kind, c.TreeHash, c.SHA256, c.Platform}], c)
	}
	for _, r := range records {
		if len(d.Provenance) > 0 && d.Provenance[len(d.Provenance)-1].Digest == r.Manifest.Digest {
			continue
		}
		d.Provenance = append(d.Provenance, r.Manifest)
		for _, it := range r.Items {
			cs := byKey[key{it.Kind, it.TreeHash.String(), it.Digest.Encoded(), it.Platform}]
			if len(cs) == 0 || it.Digest.Algorithm() != digest.SHA256 {
				d.Warnings = append(d.Warnings, fmt.Sprintf("provenance record %s: %s %s %s (%s) is not in the bundle: ignored",
					r.Manifest.Digest, it.Kind, it.Name, it.TreeHash, it.Digest))
				continue
			}
			for _, c := range cs {
				src := Source{Method: it.Method, URL: it.URL, Record: r.Manifest.Digest}
				if !slices.ContainsFunc(c.Sources, func(s Source) bool { return s.Method == src.Method && s.URL == src.URL }) {
					c.Sources = append(c.Sources, src)
				}
			}
		}
	}
	located := func(s Source) bool { return s.Method == bundle.MethodFetched || s.Method == bundle.MethodPacked }
	for _, c := range d.Components {
		if slices.ContainsFunc(c.Sources, located) {
			c.Sources = slices.DeleteFunc(c.Sources, func(s Source) bool { return !located(s) })
		}
		slices.SortFunc(c.Sources, func(a, b Source) int {
			return cmp.Or(strings.Compare(string(a.Method), string(b.Method)), strings.Compare(a.URL, b.URL))
		})
	}
}

// findPinned returns the version the manifests pin for uuid.
func findPinned(ms []*julia.Manifest, u julia.UUID) (string, bool) {
	for _, m := range ms {
		for _, e := range m.Entries {
			if e.UUID == u && e.Version != "" {
				return e.Version, true
			}
		}
	}
	return "", false
}

func kindOrder(k bundle.Kind) int {
	switch k {
	case bundle.KindRegistry:
		return 0
	case bundle.KindPackage:
		return 1
	case bundle.KindArtifact:
		return 2
	}
	return 3
}

func compareComponents(a, b *Component) int {
	if c := cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)); c != 0 {
		return c
	}
	if c := strings.Compare(a.Name, b.Name); c != 0 {
		return c
	}
	if c := strings.Compare(a.UUID.String(), b.UUID.String()); c != 0 {
		return c
	}
	va, err1 := julia.ParseVersion(a.Version)
	vb, err2 := julia.ParseVersion(b.Version)
	if err1 == nil && err2 == nil {
		if c := va.Compare(vb); c != 0 {
			return c
		}
	}
	return cmp.Or(strings.Compare(a.Version, b.Version), strings.Compare(a.Platform, b.Platform), strings.Compare(a.TreeHash, b.TreeHash))
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
