package transfer

import (
	"context"
	"fmt"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/trust"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// provenanceLog is what a push learns about where each item came from,
// for the bundle's provenance record (bundle.Provenance).
type provenanceLog struct {
	mu      sync.Mutex
	origins map[Resource]upstream.Origin // the source that gave it
	stored  map[Resource]bool            // this push stored its content
	delta   map[Resource]bool            // the inventory says the inside holds it
	tagged  map[digest.Digest]bool       // bundles tagged in the destination when the push began
}

// fetched notes that src gave res (its content verified).
func (l *provenanceLog) fetched(res Resource, src Source) {
	o := upstream.OriginOf(src, res)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.origins == nil {
		l.origins = map[Resource]upstream.Origin{}
	}
	l.origins[res] = o
}

func (l *provenanceLog) mark(m *map[Resource]bool, res Resource) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if *m == nil {
		*m = map[Resource]bool{}
	}
	(*m)[res] = true
}

func (l *provenanceLog) tag(d digest.Digest) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.tagged == nil {
		l.tagged = map[digest.Digest]bool{}
	}
	l.tagged[d] = true
}

// method says how the push got an item: fetched or packed from where its
// source says, when this push stored it; not carried, for a delta; else
// reused from the destination.
func (l *provenanceLog) method(it bundle.Item, advisories string) (bundle.Method, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if it.Kind == bundle.KindAdvisories {
		return bundle.MethodPacked, advisories
	}
	res := Resource{Kind: upstream.ResourceKind(it.Kind), UUID: it.UUID, Hash: it.TreeHash}
	switch {
	case l.delta[res]:
		return bundle.MethodInventory, ""
	case !l.stored[res]:
		return bundle.MethodReused, ""
	}
	o, ok := l.origins[res]
	if !ok {
		return bundle.MethodReused, "" // not reached: what is stored was fetched
	}
	if o.Packed {
		return bundle.MethodPacked, o.URL
	}
	return bundle.MethodFetched, o.URL
}

// writeProvenance writes the provenance record of the bundle index idx
// (whose items are items; with the push's source failures) as a referrer
// of idx (trust.PushReferrer: the
// referrers API, or the referrers tag schema's index, which a layout lists
// in index.json), unless the bundle was already tagged in the destination
// when the push began (re-tagged or repaired: its records stay) or
// PushOptions.NoProvenance. It returns the record's descriptor (zero when
// none was written).
func (p *pusher) writeProvenance(ctx context.Context, idx ocispec.Descriptor, items []bundle.Entry) (ocispec.Descriptor, error) {
	p.prov.mu.Lock()
	known := p.prov.tagged[idx.Digest]
	p.prov.mu.Unlock()
	if p.opts.NoProvenance || known {
		return ocispec.Descriptor{}, nil
	}
	rec, err := bundle.NewProvenance(idx, items, p.opts.ToolVersion, func(it bundle.Item) (bundle.Method, string) {
		return p.prov.method(it, upstream.RedactURL(p.opts.AdvisoriesSource))
	})
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	p.prov.mu.Lock()
	p.prov.origins = nil // in rec now; a URL each, 125,000 at General scale
	p.prov.mu.Unlock()
	rec.SourceFailures = p.sortedFailures()
	parts, err := rec.EncodeParts()
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	rec = nil
	layers := make([]trust.ReferrerLayer, len(parts))
	for i, b := range parts {
		layers[i] = trust.ReferrerLayer{MediaType: bundle.MediaTypeProvenance, Data: b,
			Annotations: map[string]string{ocispec.AnnotationTitle: bundle.ProvenancePartTitle(i)}}
	}
	d, err := trust.PushReferrerLayers(ctx, p.dst, idx, bundle.ArtifactTypeProvenance, layers, nil)
	if err == nil && testHookProvenance != nil {
		err = testHookProvenance()
	}
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("writing the provenance record: %w", err)
	}
	return d, nil
}

// testHookProvenance, set by tests, runs once the record is written; an
// error fails the push there.
var testHookProvenance func() error
