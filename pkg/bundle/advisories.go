package bundle

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// MaxAdvisoriesSize bounds the uncompressed files of an advisories
// snapshot (OSV's whole database is under 1 GiB; Julia's about 10 MiB).
const MaxAdvisoriesSize = 1 << 30

// PushAdvisories writes a snapshot of security advisories as an item of
// kind KindAdvisories: one deterministic gzip tarball (Tar.jl layout, as
// every tarball shoebox creates) of files, a flat map from file name
// ("JLSEC-2025-1.json") to content, and returns its descriptor for
// PushIndex. The item's tree hash is the tarball's git tree hash, so the
// same advisories give the same item in every bundle.
func PushAdvisories(ctx context.Context, dst Pusher, files map[string][]byte) (ocispec.Descriptor, error) {
	var total int64
	for name, b := range files {
		if name == "" || strings.ContainsAny(name, "/\\") || name == "." || name == ".." || !fs.ValidPath(name) {
			return ocispec.Descriptor{}, formatErrorf("advisories: file name %q", name)
		}
		total += int64(len(b))
	}
	if total > MaxAdvisoriesSize {
		return ocispec.Descriptor{}, formatErrorf("advisories: %d bytes, limit %d", total, MaxAdvisoriesSize)
	}
	var tgz bytes.Buffer
	if err := tarx.WriteFS(&tgz, flatFS(files), tarx.WriteOptions{}); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("advisories: writing the tarball: %w", err)
	}
	tr, _, err := tarx.Decompress(bytes.NewReader(tgz.Bytes()))
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	h, err := treehash.TarVisit(tr, nil)
	tr.Close()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("advisories: hashing the tarball: %w", err)
	}
	layer := content.NewDescriptorFromBytes(MediaTypeTarGzip, tgz.Bytes())
	if err := pushIfAbsent(ctx, dst, layer, tgz.Bytes()); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("advisories: pushing the tarball: %w", err)
	}
	return PushItem(ctx, dst, Item{Kind: KindAdvisories, TreeHash: h.SkipEmpty, KeepEmptyHash: keepIfDiffers(h),
		Layers: []ocispec.Descriptor{layer}})
}

func keepIfDiffers(h treehash.TarHashes) treehash.Hash {
	if h.KeepEmpty != h.SkipEmpty {
		return h.KeepEmpty
	}
	return treehash.Hash{}
}

// ReadAdvisories reads an advisories snapshot into memory (within
// tarx.ReadFiles' limits), verifying its digest; the result holds the
// files PushAdvisories was given.
func ReadAdvisories(ctx context.Context, src content.Fetcher, e Entry) (fs.FS, error) {
	if e.Kind != KindAdvisories {
		return nil, fmt.Errorf("%s: not an advisories snapshot", e.Item)
	}
	rc, err := Open(ctx, src, e)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	defer rc.Close()
	fsys, err := tarx.ReadTarball(rc, tarx.Limits{MaxBytes: 2 * MaxAdvisoriesSize})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	return fsys, nil
}

// flatFS is a read-only file system of files at its root.
type flatFS map[string][]byte

func (f flatFS) Open(name string) (fs.File, error) {
	if name == "." {
		return &flatDir{f: f}, nil
	}
	b, ok := f[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &flatFile{info: flatInfo{name: name, size: int64(len(b))}, r: bytes.NewReader(b)}, nil
}

func (f flatFS) ReadDir(name string) ([]fs.DirEntry, error) {
	if name != "." {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrNotExist}
	}
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	slices.Sort(names)
	out := make([]fs.DirEntry, len(names))
	for i, n := range names {
		out[i] = fs.FileInfoToDirEntry(flatInfo{name: n, size: int64(len(f[n]))})
	}
	return out, nil
}

type flatInfo struct {
	name string
	size int64
	dir  bool
}

func (i flatInfo) Name() string { return path.Base(i.name) }
func (i flatInfo) Size() int64  { return i.size }
func (i flatInfo) Mode() fs.FileMode {
	if i.dir {
		return fs.ModeDir | 0o755
	}
	return 0o644
}
func (i flatInfo) ModTime() time.Time { return time.Time{} }
func (i flatInfo) IsDir() bool        { return i.dir }
func (i flatInfo) Sys() any           { return nil }

type flatFile struct {
	info flatInfo
	r    *bytes.Reader
}

func (f *flatFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *flatFile) Read(p []byte) (int, error) { return f.r.Read(p) }
func (f *flatFile) Close() error               { return nil }

type flatDir struct{ f flatFS }

func (d *flatDir) Stat() (fs.FileInfo, error) { return flatInfo{name: ".", dir: true}, nil }
func (d *flatDir) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: ".", Err: fs.ErrInvalid}
}
func (d *flatDir) Close() error { return nil }
