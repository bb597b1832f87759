package sbom

import (
	"context"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/advisory"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// AuditResult is what Audit found.
type AuditResult struct {
	// Queries are the package versions audited.
	Queries []advisory.Query
	// Findings are the advisories that affect them (advisory.Database.Match).
	Findings []advisory.Finding
	// NotInBundle lists manifest entries the bundle does not hold (by
	// uuid and tree hash), as "Name@version"; they are audited all the
	// same.
	NotInBundle []string
}

// Audit matches db against the package versions of the bundle at index,
// or, when manifests are given, against the versions they pin (looked up
// in the bundle by uuid and tree hash; those it lacks are listed in
// NotInBundle and audited all the same).
func Audit(ctx context.Context, src content.Fetcher, index ocispec.Descriptor, db *advisory.Database, manifests []*julia.Manifest) (*AuditResult, error) {
	b, err := bundle.Read(ctx, src, index)
	if err != nil {
		return nil, err
	}
	res := &AuditResult{}
	if len(manifests) == 0 {
		res.Queries = BundleQueries(b)
	} else {
		held := map[julia.UUID]map[treehash.Hash]bool{}
		for _, e := range b.Entries {
			if e.Kind == bundle.KindPackage {
				if held[e.UUID] == nil {
					held[e.UUID] = map[treehash.Hash]bool{}
				}
				held[e.UUID][e.TreeHash] = true
			}
		}
		for _, m := range manifests {
			for _, me := range m.Entries {
				if !me.Fetchable() || me.Version == "" {
					continue
				}
				res.Queries = append(res.Queries, advisory.Query{Name: me.Name, UUID: me.UUID, Version: me.Version})
				if !held[me.UUID][me.TreeHash] {
					res.NotInBundle = append(res.NotInBundle, me.Name+"@"+me.Version)
				}
			}
		}
	}
	if res.Findings, err = db.Match(res.Queries); err != nil {
		return nil, err
	}
	return res, nil
}

// BundleQueries lists every package version of a bundle for
// advisory.Database.Match.
func BundleQueries(b *bundle.Bundle) []advisory.Query {
	var qs []advisory.Query
	for _, e := range b.Entries {
		if e.Kind != bundle.KindPackage {
			continue
		}
		for _, v := range e.Versions {
			qs = append(qs, advisory.Query{Name: e.Name, UUID: e.UUID, Version: v})
		}
	}
	return qs
}
