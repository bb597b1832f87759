package bundle

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"

	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// deepCheck streams e's tarball (verifying parts and whole as Open does),
// checks that its compression is the one its media type says, applies
// Tar.jl's rules and compares its tree hashes with e's annotations. It
// returns the number of compressed bytes read.
func deepCheck(ctx context.Context, src content.Fetcher, e Entry) (int64, error) {
	rc, err := Open(ctx, src, e)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	cr := &countingReader{r: rc}
	tr, comp, err := tarx.Decompress(cr)
	if err != nil {
		return cr.n, fmt.Errorf("%s: decompressing: %w", e.Item, err)
	}
	defer tr.Close()
	want := tarx.Gzip
	if e.Whole.MediaType == MediaTypeTarZstd {
		want = tarx.Zstd
	}
	if comp != want {
		return cr.n, fmt.Errorf("%s: %s compression, media type %s: %w", e.Item, comp, e.Whole.MediaType, ErrIntegrity)
	}
	var found map[string]*strings.Builder
	if e.ArtifactsTOML != nil {
		found = map[string]*strings.Builder{}
	}
	h, err := treehash.TarVisit(tr, func(te *treehash.Entry) io.Writer {
		if found == nil || te.Type != treehash.TypeFile || !IsArtifactsTOML(te.Path) {
			return nil
		}
		b := &strings.Builder{}
		found[te.Path] = b // a later entry of the same path wins, as in the tree
		return b
	})
	if err != nil {
		return cr.n, fmt.Errorf("%s: reading tarball: %w: %w", e.Item, ErrIntegrity, err)
	}
	// Read the compressed stream to its end so the digests get verified.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return cr.n, err
	}
	if err := checkHashes(e.Item, h); err != nil {
		return cr.n, err
	}
	if found != nil {
		got := make(map[string]string, len(found))
		for p, b := range found {
			got[p] = b.String()
		}
		if !maps.Equal(got, e.ArtifactsTOML) {
			return cr.n, fmt.Errorf("%s: %s differs from the tarball's Artifacts.toml files: %w", e.Item, AnnotationArtifactsTOML, ErrIntegrity)
		}
	}
	return cr.n, nil
}

// checkHashes compares computed tree hashes with an item's annotations.
func checkHashes(it Item, h treehash.TarHashes) error {
	pkgHash, pkgName := h.SkipEmpty, "skip-empty"
	if it.Kind == KindRegistry {
		pkgHash, pkgName = h.KeepEmpty, "keep-empty"
	}
	if pkgHash != it.TreeHash {
		return fmt.Errorf("%s: %s tree hash is %s, annotated %s: %w: %w", it, pkgName, pkgHash, it.TreeHash, ErrIntegrity, treehash.ErrMismatch)
	}
	if it.Kind != KindRegistry {
		wantKeep := it.KeepEmptyHash
		if wantKeep.IsZero() {
			wantKeep = it.TreeHash
		}
		if h.KeepEmpty != wantKeep {
			return fmt.Errorf("%s: keep-empty tree hash is %s, annotated %s: %w: %w", it, h.KeepEmpty, wantKeep, ErrIntegrity, treehash.ErrMismatch)
		}
	}
	return nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
