package sbom

import (
	"context"
	"errors"
	"fmt"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/advisory"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ErrNoAdvisories says a bundle carries no advisories and none were given.
var ErrNoAdvisories = errors.New("the bundle carries no advisories")

// AuditResult is what Audit found.
type AuditResult struct {
	// Database is what was matched; FromBundle says it came from the
	// bundle's advisories item.
	Database   *advisory.Database
	FromBundle bool
	// Queries are the package versions audited.
	Queries []advisory.Query
	// Findings are the advisories that affect them (advisory.Database.Match).
	Findings []advisory.Finding
	// NotInBundle lists manifest entries the bundle does not hold (by
	// uuid and tree hash), as "Name@version"; they are audited all the
	// same.
	NotInBundle []string
}

// Audit matches db (nil: the advisories the bundle carries) against the
// package versions of the bundle at index, or, when manifests are given,
// against the versions they pin (looked up in the bundle by uuid and tree
// hash; those it lacks are listed in NotInBundle and audited all the
// same). It fails with ErrNoAdvisories when db is nil and the bundle
// carries none.
func Audit(ctx context.Context, src content.Fetcher, index ocispec.Descriptor, db *advisory.Database, manifests []*julia.Manifest) (*AuditResult, error) {
	b, err := bundle.Read(ctx, src, index)
	if err != nil {
		return nil, err
	}
	res := &AuditResult{Database: db}
	if db == nil {
		if db, err = BundleAdvisories(ctx, src, b); err != nil {
			return nil, err
		}
		if db == nil {
			return nil, ErrNoAdvisories
		}
		res.Database, res.FromBundle = db, true
	}
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

// BundleAdvisories reads the advisories a bundle carries (its
// KindAdvisories item, digest-verified); nil when it carries none.
func BundleAdvisories(ctx context.Context, src content.Fetcher, b *bundle.Bundle) (*advisory.Database, error) {
	for _, e := range b.Entries {
		if e.Kind != bundle.KindAdvisories {
			continue
		}
		fsys, err := bundle.ReadAdvisories(ctx, src, e)
		if err != nil {
			return nil, err
		}
		db, err := advisory.Load(fsys)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Item, err)
		}
		return db, nil
	}
	return nil, nil
}
