package transfer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"path"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// maxArtifactsTOML caps how much of one Artifacts.toml is kept in memory.
const maxArtifactsTOML = 8 << 20

// scanResult is what one read of a tarball tells: its tree hashes and the
// Artifacts.toml files inside it (path → body).
type scanResult struct {
	hashes    treehash.TarHashes
	artifacts map[string][]byte
	err       error
}

// isArtifactsTOML reports whether a tar path names an (Julia)Artifacts.toml
// file at any depth (pkg-protocol.md §8.3: mirror what every one of them
// lists, since select hooks choose among them at install time).
func isArtifactsTOML(p string) bool {
	b := path.Base(p)
	return b == "Artifacts.toml" || b == "JuliaArtifacts.toml"
}

// scan decompresses a tarball stream, checks Tar.jl's rules and computes its
// tree hashes, capturing Artifacts.toml bodies when wantArtifacts. It always
// reads r to its end, so a writer feeding it never blocks.
func scan(r io.Reader, wantArtifacts bool) scanResult {
	defer io.Copy(io.Discard, r)
	var res scanResult
	rc, _, err := tarx.Decompress(r)
	if err != nil {
		res.err = err
		return res
	}
	defer rc.Close()
	res.artifacts = map[string][]byte{}
	res.hashes, res.err = treehash.TarVisit(rc, func(e *treehash.Entry) io.Writer {
		if !wantArtifacts || e.Type != treehash.TypeFile || !isArtifactsTOML(e.Path) {
			return nil
		}
		if e.Size > maxArtifactsTOML {
			return nil
		}
		b := &bytes.Buffer{}
		res.artifacts[e.Path] = nil
		return writerFunc(func(p []byte) (int, error) {
			b.Write(p)
			res.artifacts[e.Path] = b.Bytes()
			return len(p), nil
		})
	})
	if res.err == nil {
		// Drain what follows the end-of-archive blocks (gzip trailer).
		_, res.err = io.Copy(io.Discard, rc)
	}
	return res
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// sniffMediaType peeks at a tarball's magic bytes and returns the layer media
// type it deserves, and a reader that still yields every byte.
func sniffMediaType(r io.Reader) (string, io.Reader, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	c, _, err := tarx.Sniff(br)
	if err != nil {
		return "", nil, err
	}
	switch c {
	case tarx.Gzip:
		return bundle.MediaTypeTarGzip, br, nil
	case tarx.Zstd:
		return bundle.MediaTypeTarZstd, br, nil
	}
	return "", nil, fmt.Errorf("not a gzip or zstd tarball (Pkg cannot read %v)", c)
}

// ingestChecked streams a tarball into dst once: the bytes go to the store
// while a second goroutine decompresses them, applies Tar.jl's rules and
// hashes the tree; check decides, before the blob becomes visible, whether
// the content is what was asked for. A tarball that fails never enters the
// store.
func ingestChecked(ctx context.Context, dst *store.Store, r io.Reader, maxPart int64, tempDir string,
	wantArtifacts bool, check func(treehash.TarHashes) error) (whole ocispec.Descriptor, parts []ocispec.Descriptor, res scanResult, err error) {
	mt, r, err := sniffMediaType(r)
	if err != nil {
		return whole, nil, res, err
	}
	pr, pw := io.Pipe()
	done := make(chan scanResult, 1)
	go func() {
		s := scan(pr, wantArtifacts)
		pr.CloseWithError(s.err)
		done <- s
	}()
	waited := false
	wait := func() scanResult {
		if !waited {
			res = <-done
			waited = true
		}
		return res
	}
	whole, parts, err = dst.Ingest(ctx, mt, io.TeeReader(r, pw), store.IngestOptions{
		MaxPartSize: maxPart,
		TempDir:     tempDir,
		Verify: func(ocispec.Descriptor) error {
			pw.Close()
			s := wait()
			if s.err != nil {
				return s.err
			}
			return check(s.hashes)
		},
	})
	pw.CloseWithError(fmt.Errorf("ingest ended: %w", err))
	wait()
	return whole, parts, res, err
}
