package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// tarballOfDir streams a deterministic gzip tarball (Tar.jl's layout) of a
// directory, without .git entries and empty directories, so that its tree
// hashes are the ones Pkg computes for the directory. The push pipeline
// re-derives the hash from the stream and checks it.
func tarballOfDir(dir string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		pw.CloseWithError(tarx.WriteDir(pw, dir, tarx.WriteOptions{ExcludeGit: true, SkipEmptyDirs: true}))
	}()
	return pr
}

// treeInfoFile is what Pkg writes into a registry it unpacked from a Pkg
// server: the tree hash of the rest of the directory. It is not part of the
// registry's tree, so it is left out of the hash and of the tarball.
const treeInfoFile = ".tree_info.toml"

// withoutTreeInfo hides a top-level treeInfoFile.
type withoutTreeInfo struct{ fsys fs.FS }

func (f withoutTreeInfo) Open(name string) (fs.File, error) {
	if name == treeInfoFile {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return f.fsys.Open(name)
}

func (f withoutTreeInfo) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(f.fsys, name)
	if name == "." {
		ents = slices.DeleteFunc(ents, func(e fs.DirEntry) bool { return e.Name() == treeInfoFile })
	}
	return ents, err
}

func (f withoutTreeInfo) ReadLink(name string) (string, error) { return fs.ReadLink(f.fsys, name) }

func (f withoutTreeInfo) Lstat(name string) (fs.FileInfo, error) { return fs.Lstat(f.fsys, name) }

// tarballOfRegistryDir is tarballOfDir for an unpacked depot registry,
// without its treeInfoFile.
func tarballOfRegistryDir(dir string) io.ReadCloser {
	pr, pw := io.Pipe()
	go func() {
		root, err := os.OpenRoot(dir)
		if err != nil {
			pw.CloseWithError(err)
			return
		}
		defer root.Close()
		pw.CloseWithError(tarx.WriteFS(pw, withoutTreeInfo{root.FS()}, tarx.WriteOptions{ExcludeGit: true, SkipEmptyDirs: true}))
	}()
	return pr
}

// registryDirHash is the git tree hash of an unpacked depot registry: the
// keep-empty hash of tarballOfRegistryDir.
func registryDirHash(dir string) (treehash.Hash, error) {
	rc := tarballOfRegistryDir(dir)
	defer rc.Close()
	dec, _, err := tarx.Decompress(rc)
	if err != nil {
		return treehash.Hash{}, err
	}
	defer dec.Close()
	h, err := treehash.Tar(dec)
	return h.KeepEmpty, err
}

// Depot is a Source over a local Julia depot (~/.julia): its registries
// (packed tarballs with their sidecar, or unpacked directories), installed
// packages (packages/<Name>/<slug>) and artifacts (artifacts/<hash>).
// Trees are packed deterministically on the fly; the push checks their tree
// hashes like any other source's.
type Depot struct{ dir string }

// NewDepot returns a source for the depot at dir.
func NewDepot(dir string) (*Depot, error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("depot %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("depot %s: not a directory", dir)
	}
	return &Depot{dir: dir}, nil
}

// Name implements Source.
func (d *Depot) Name() string { return "depot " + d.dir }

// depotRegistry is one registry found in a depot.
type depotRegistry struct {
	ref     RegistryRef
	tarball string // packed
	dir     string // unpacked
}

func (d *Depot) registries() ([]depotRegistry, error) {
	root := filepath.Join(d.dir, "registries")
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.Name(), err)
	}
	var out []depotRegistry
	packed := map[string]bool{}
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".toml") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Name(), err)
		}
		sc, err := julia.ParseRegistrySidecar(e.Name(), b)
		if err != nil {
			continue // not a sidecar (Pkg ignores it too)
		}
		tb := filepath.Join(root, filepath.FromSlash(sc.Path))
		if _, err := os.Stat(tb); err != nil {
			continue
		}
		packed[strings.TrimSuffix(e.Name(), ".toml")] = true
		out = append(out, depotRegistry{ref: RegistryRef{UUID: sc.UUID, Hash: sc.TreeHash}, tarball: tb})
	}
	for _, e := range ents {
		if !e.IsDir() || packed[e.Name()] {
			continue
		}
		dir := filepath.Join(root, e.Name())
		reg, err := julia.ReadRegistry(os.DirFS(dir))
		if err != nil {
			continue
		}
		h, err := registryDirHash(dir)
		if err != nil {
			return nil, fmt.Errorf("%s: registry %s: %w", d.Name(), e.Name(), err)
		}
		out = append(out, depotRegistry{ref: RegistryRef{UUID: reg.UUID, Hash: h}, dir: dir})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ref.UUID.String() < out[j].ref.UUID.String() })
	return out, nil
}

// Registries implements RegistryLister.
func (d *Depot) Registries(ctx context.Context) ([]RegistryRef, error) {
	regs, err := d.registries()
	if err != nil {
		return nil, err
	}
	refs := make([]RegistryRef, len(regs))
	for i, r := range regs {
		refs[i] = r.ref
	}
	return refs, nil
}

// Fetch implements Source.
func (d *Depot) Fetch(ctx context.Context, r Resource) (io.ReadCloser, error) {
	path, pack, err := d.locate(r)
	switch {
	case err != nil:
		return nil, err
	case path == "":
		return nil, fmt.Errorf("%s: not in %s: %w", r, d.Name(), ErrNotFound)
	case !pack:
		return os.Open(path)
	case r.Kind == KindRegistry:
		return tarballOfRegistryDir(path), nil
	}
	return tarballOfDir(path), nil
}

// locate finds where the depot holds r: a packed registry's tarball
// (pack false: read as is), or the directory of an unpacked registry, an
// installed package or an artifact (pack true: Fetch packs it); "" when
// it has none.
func (d *Depot) locate(r Resource) (path string, pack bool, err error) {
	switch r.Kind {
	case KindRegistry:
		regs, err := d.registries()
		if err != nil {
			return "", false, err
		}
		for _, reg := range regs {
			if reg.ref.UUID != r.UUID || reg.ref.Hash != r.Hash {
				continue
			}
			if reg.tarball != "" {
				return reg.tarball, false, nil
			}
			return reg.dir, true, nil
		}
	case KindPackage:
		for _, slug := range []string{julia.Slug(r.UUID, r.Hash), julia.SlugN(r.UUID, r.Hash, 4)} {
			m, _ := filepath.Glob(filepath.Join(d.dir, "packages", "*", slug))
			for _, dir := range m {
				if isDir(dir) {
					return dir, true, nil
				}
			}
		}
	case KindArtifact:
		if dir := filepath.Join(d.dir, "artifacts", r.Hash.String()); isDir(dir) {
			return dir, true, nil
		}
	}
	return "", false, nil
}

// RegistryDir is a Source over a registry checkout (a directory or git work
// tree with Registry.toml at its top). It offers one snapshot: the
// directory as it is, whose tree hash (ignoring .git) is the git tree hash
// of a clean checkout.
type RegistryDir struct {
	dir string
	ref RegistryRef
}

// NewRegistryDir reads Registry.toml and hashes the tree.
func NewRegistryDir(dir string) (*RegistryDir, error) {
	reg, err := julia.ReadRegistry(os.DirFS(dir))
	if err != nil {
		return nil, fmt.Errorf("registry checkout %s: %w", dir, err)
	}
	h, err := treehash.Dir(dir)
	if err != nil {
		return nil, fmt.Errorf("registry checkout %s: %w", dir, err)
	}
	return &RegistryDir{dir: dir, ref: RegistryRef{UUID: reg.UUID, Hash: h}}, nil
}

// Name implements Source.
func (d *RegistryDir) Name() string { return "registry checkout " + d.dir }

// Registries implements RegistryLister.
func (d *RegistryDir) Registries(context.Context) ([]RegistryRef, error) {
	return []RegistryRef{d.ref}, nil
}

// Fetch implements Source.
func (d *RegistryDir) Fetch(ctx context.Context, r Resource) (io.ReadCloser, error) {
	if r.Kind == KindRegistry && r.UUID == d.ref.UUID && r.Hash == d.ref.Hash {
		return tarballOfDir(d.dir), nil
	}
	return nil, fmt.Errorf("%s: not in %s: %w", r, d.Name(), ErrNotFound)
}

// OpenSource turns a --from argument into a Source: an http(s):// or file://
// Pkg server, a registry checkout (a directory with Registry.toml), or a
// depot (any other directory).
func OpenSource(spec string, opts ServerOptions) (Source, error) {
	if strings.Contains(spec, "://") {
		return NewPkgServer(spec, opts)
	}
	fi, err := os.Stat(spec)
	if err != nil {
		return nil, fmt.Errorf("source %s: %w", spec, err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("source %s: not a directory or URL", spec)
	}
	if _, err := os.Stat(filepath.Join(spec, "Registry.toml")); err == nil {
		return NewRegistryDir(spec)
	}
	if _, err := os.Stat(filepath.Join(spec, "registries")); err == nil {
		return NewDepot(spec)
	}
	if _, err := os.Stat(filepath.Join(spec, "registries")); err != nil {
		if _, err2 := os.Stat(filepath.Join(spec, "packages")); err2 == nil {
			return NewDepot(spec)
		}
	}
	return nil, fmt.Errorf("source %s: neither a depot (registries/, packages/, artifacts/) nor a registry checkout (Registry.toml)", spec)
}
