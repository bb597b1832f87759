package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// pushKey is the bundle's push key (bundle.AnnotationPushKey): the sha256
// of everything that decides what a push writes apart from the creation
// time: the request, the options that select and shape items, the tool
// version, and the registry snapshots the sources list. The sources
// themselves are left out: content is named by its hashes, so the same
// request from another mirror of the same snapshots is the same bundle
// (only an --allow-missing push could differ, and it is never found up to
// date).
func pushKey(req PushRequest, opts PushOptions, regs []RegistryRef) string {
	var b strings.Builder
	line := func(parts ...string) {
		b.WriteString(strings.Join(parts, "\t"))
		b.WriteByte('\n')
	}
	line("shoebox push key", "1")
	line("tool", opts.ToolVersion)
	for _, r := range regs {
		line("registry", r.UUID.String(), r.Hash.String())
	}
	for _, m := range req.Manifests {
		line("manifest", m.Name)
		if m.Manifest == nil {
			continue
		}
		for _, e := range m.Manifest.Entries {
			line("entry", e.Name, e.UUID.String(), e.Version, e.TreeHash.String(), e.Path, e.RepoURL, e.RepoRev, e.RepoSubdir)
		}
	}
	for _, r := range req.Packages {
		spec := ""
		if r.Spec != nil {
			spec = r.Spec.String()
		}
		line("package", r.Name, r.UUID.String(), spec, r.Text)
	}
	line("all", strconv.FormatBool(req.All), strconv.Itoa(req.VersionsPerPackage), req.JuliaVersion)
	line(append([]string{"registries"}, req.Registries...)...)
	var platforms []string
	for _, p := range opts.Platforms {
		platforms = append(platforms, p.Triplet())
	}
	slices.Sort(platforms)
	line(append([]string{"platforms"}, platforms...)...)
	line("options", strconv.FormatBool(opts.AllPlatforms), strconv.FormatBool(opts.IncludeLazy),
		strconv.FormatBool(opts.Downloads), strconv.FormatBool(opts.AllowMissing), strconv.FormatInt(opts.MaxPartSize, 10))
	if opts.Advisories != nil {
		names := make([]string, 0, len(opts.Advisories))
		for n := range opts.Advisories {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			h := sha256.Sum256(opts.Advisories[n])
			line("advisory", n, hex.EncodeToString(h[:]))
		}
	}
	sum := sha256.Sum256([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// upToDate reports whether the destination's tag already names the bundle
// this push would write: same push key, nothing missing, the asked-for
// creation time if one was pinned, and every blob of every item present.
// It is tried only for tagged pushes into a layout without a delta, and
// reads the bundle's indexes and stats its blobs: no manifest graph, no
// tarball. On success it fills the result from the bundle's annotations.
func (p *pusher) upToDate(ctx context.Context, key string) (bool, error) {
	if p.opts.Tag == "" || p.opts.DryRun || p.opts.Skip != nil || p.opts.AllowMissing || p.dst.Ref().Kind != store.Layout {
		return false, nil
	}
	desc, err := p.dst.Resolve(ctx, p.opts.Tag)
	if errors.Is(err, errdef.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if desc.MediaType != ocispec.MediaTypeImageIndex {
		return false, nil
	}
	b, err := p.readBundle(ctx, desc)
	if err != nil || b.Annotations[bundle.AnnotationPushKey] != key || b.Annotations[bundle.AnnotationMissing] != "0" {
		return false, nil // the full push reads it again and reports any problem
	}
	if p.opts.CreatedPinned && !b.Created.Equal(p.opts.Created.UTC().Truncate(time.Second)) {
		return false, nil
	}
	items := map[bundle.Kind]int{}
	var total int64
	for _, e := range b.Entries {
		blobs := append([]ocispec.Descriptor{e.Manifest}, e.Layers...)
		if len(e.Layers) == 0 && e.Whole.Digest != "" {
			blobs = append(blobs, e.Whole)
		}
		for _, d := range blobs {
			ok, err := p.dst.BlobExists(ctx, d)
			if err != nil || !ok {
				return false, nil
			}
		}
		items[e.Kind]++
		total += e.Whole.Size
	}
	p.emit(Event{Type: EventPlanned, Items: len(b.Entries)})
	for _, e := range b.Entries {
		p.emit(Event{Type: EventSkipped, Resource: Resource{Kind: ResourceKind(e.Kind), UUID: e.UUID, Hash: e.TreeHash}, Name: e.Name, Bytes: e.Whole.Size})
	}
	p.result.Index, p.result.Tag, p.result.Items = desc, p.opts.Tag, items
	p.result.Reused = len(b.Entries)
	p.result.BytesTotal = total
	p.result.UpToDate = true
	return true, nil
}

// readBundle reads a bundle of the destination once per push (the
// up-to-date check and loadExisting may both want it).
func (p *pusher) readBundle(ctx context.Context, desc ocispec.Descriptor) (*bundle.Bundle, error) {
	if b, ok := p.bundles[desc.Digest]; ok {
		return b, nil
	}
	b, err := bundle.Read(ctx, p.dst, desc)
	if err != nil {
		return nil, err
	}
	if p.bundles == nil {
		p.bundles = map[digest.Digest]*bundle.Bundle{}
	}
	p.bundles[desc.Digest] = b
	return b, nil
}
