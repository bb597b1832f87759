package bundle

import (
	"context"
	"fmt"
	"io/fs"

	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// ReadRegistry reads a registry snapshot item into memory (within
// tarx.ReadFiles' limits) and parses its Registry.toml. The whole tarball
// is read, so its digest (and each part's) is checked before this returns.
func ReadRegistry(ctx context.Context, src content.Fetcher, e Entry) (fs.FS, *julia.Registry, error) {
	if e.Kind != KindRegistry {
		return nil, nil, fmt.Errorf("%s: not a registry snapshot", e.Item)
	}
	rc, err := Open(ctx, src, e)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	defer rc.Close()
	fsys, err := tarx.ReadTarball(rc, tarx.Limits{})
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	reg, err := julia.ReadRegistry(fsys)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	return fsys, reg, nil
}
