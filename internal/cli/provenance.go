package cli

import (
	"context"
	"errors"
	"fmt"
	"io"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// maxProvenanceRecords and maxProvenanceBytes bound the records read for
// one bundle (a store's writer could add any number, each up to
// bundle.MaxProvenanceSize): a push writes one, about 300 bytes an item.
const (
	maxProvenanceRecords = 32
	maxProvenanceBytes   = 2 * bundle.MaxProvenanceSize
)

// errProvenanceBudget stops reading records past maxProvenanceBytes.
var errProvenanceBudget = errors.New("provenance records too large")

// budgetFetcher fetches what fits in what is left of a byte budget.
type budgetFetcher struct {
	content.Fetcher
	left int64
}

func (b *budgetFetcher) Fetch(ctx context.Context, d ocispec.Descriptor) (io.ReadCloser, error) {
	if d.Size > b.left {
		return nil, errProvenanceBudget
	}
	b.left -= max(d.Size, 0)
	return b.Fetcher.Fetch(ctx, d)
}

// provenanceOf reads the provenance records of the bundle whose index is
// idx (bundle.ReadProvenance of its referrers: the referrers tag schema's
// index and the store's referrers). A record that does not read as one
// (damaged, another format, another bundle's) is left out with a warning;
// other errors (the store failing) are returned.
func provenanceOf(ctx context.Context, st *store.Store, idx ocispec.Descriptor) ([]*bundle.Provenance, []string, error) {
	cands, err := trust.Referrers(ctx, st, idx, bundle.ArtifactTypeProvenance)
	if err != nil {
		return nil, nil, fmt.Errorf("bundle %s: listing provenance records: %w", idx.Digest, err)
	}
	var out []*bundle.Provenance
	var warnings []string
	budget := &budgetFetcher{Fetcher: st, left: maxProvenanceBytes}
	for _, d := range cands {
		if d.MediaType != ocispec.MediaTypeImageManifest {
			continue
		}
		if len(out) == maxProvenanceRecords {
			warnings = append(warnings, fmt.Sprintf("bundle %s: more than %d provenance records; the rest are ignored", idx.Digest, maxProvenanceRecords))
			break
		}
		p, err := bundle.ReadProvenance(ctx, budget, d, idx.Digest)
		if errors.Is(err, errProvenanceBudget) {
			warnings = append(warnings, fmt.Sprintf("bundle %s: provenance records beyond %d MiB are ignored", idx.Digest, maxProvenanceBytes>>20))
			break
		}
		if err != nil {
			if d.ArtifactType == "" && errors.Is(err, bundle.ErrFormat) {
				continue // another kind of referrer that did not say so
			}
			if errors.Is(err, bundle.ErrFormat) || errors.Is(err, bundle.ErrIntegrity) || errors.Is(err, io.ErrUnexpectedEOF) ||
				errors.Is(err, errdef.ErrNotFound) {
				warnings = append(warnings, fmt.Sprintf("ignoring %v", err))
				continue
			}
			return nil, nil, err
		}
		out = append(out, p)
	}
	return out, warnings, nil
}

// warn prints warnings on standard error.
func warn(f *Factory, warnings ...string) {
	for _, w := range warnings {
		fmt.Fprintln(f.Err, "warning:", w)
	}
}
