package pkgserver

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// buildView reads the registry snapshot e and returns its available view:
// only the versions has(uuid, tree) holds. View.data is nil when nothing
// is missing.
func buildView(ctx context.Context, open func(context.Context) (io.ReadCloser, error), e bundle.Entry, has func(julia.UUID, treehash.Hash) bool) (*View, error) {
	files, err := readSnapshot(ctx, open, e)
	if err != nil {
		return nil, err
	}
	reg, err := julia.ReadRegistry(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	v := &View{UUID: e.UUID, Snapshot: e.TreeHash, Hash: e.TreeHash, Size: e.Whole.Size}
	ov := &overlay{base: files, removed: map[string]bool{}, set: map[string][]byte{}}
	keepPkgs := map[julia.UUID]julia.RegistryPackage{}
	uuids := make([]julia.UUID, 0, len(reg.Packages))
	for u := range reg.Packages {
		uuids = append(uuids, u)
	}
	slices.SortFunc(uuids, func(a, b julia.UUID) int { return bytes.Compare(a[:], b[:]) })
	pkgs, errs, err := readPackages(ctx, files, reg, uuids)
	if err != nil {
		return nil, err
	}
	for i, u := range uuids {
		rp := reg.Packages[u]
		pkg := pkgs[i]
		if errs[i] != nil {
			// Pkg could not use this package either; leave it out.
			ov.removed[rp.Path] = true
			v.RemovedPackages++
			continue
		}
		keep := map[string]bool{}
		for k, info := range pkg.Versions {
			if has(u, info.TreeHash) {
				keep[k] = true
			}
		}
		v.RemovedVersions += len(pkg.Versions) - len(keep)
		switch {
		case len(keep) == 0:
			ov.removed[rp.Path] = true
			v.RemovedPackages++
			continue
		case len(keep) < len(pkg.Versions):
			file := path.Join(rp.Path, "Versions.toml")
			raw, err := fs.ReadFile(files, file)
			if err != nil {
				return nil, fmt.Errorf("%s: %s: %w", e.Item, file, err)
			}
			ov.set[file] = filterVersions(raw, pkg, keep, files, rp.Path)
		}
		keepPkgs[u] = rp
		v.Packages++
		v.Versions += len(keep)
	}
	if v.RemovedPackages == 0 && v.RemovedVersions == 0 {
		return v, nil
	}
	raw, err := fs.ReadFile(files, "Registry.toml")
	if err != nil {
		return nil, fmt.Errorf("%s: Registry.toml: %w", e.Item, err)
	}
	ov.set["Registry.toml"] = filterRegistry(raw, reg, keepPkgs)

	var buf bytes.Buffer
	if err := tarx.WriteFS(&buf, ov, tarx.WriteOptions{SkipEmptyDirs: true}); err != nil {
		return nil, fmt.Errorf("%s: writing the available view: %w", e.Item, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(buf.Bytes()))
	if err != nil {
		return nil, fmt.Errorf("%s: reading the available view back: %w", e.Item, err)
	}
	h, err := treehash.Tar(zr)
	if err != nil {
		return nil, fmt.Errorf("%s: hashing the available view: %w", e.Item, err)
	}
	v.Hash, v.data, v.Size = h.KeepEmpty, buf.Bytes(), int64(buf.Len())
	return v, nil
}

// readPackages reads the Package.toml and Versions.toml of every package
// in uuids, on as many goroutines as there are CPUs (at General scale, 20k
// packages take a third of a second on one core). pkgs[i] and errs[i] are
// uuids[i]'s package and error; err is the context's.
func readPackages(ctx context.Context, files fs.FS, reg *julia.Registry, uuids []julia.UUID) (pkgs []*julia.Package, errs []error, err error) {
	pkgs, errs = make([]*julia.Package, len(uuids)), make([]error, len(uuids))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), max(len(uuids)/256, 1)) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(uuids) {
					return
				}
				pkgs[i], errs[i] = julia.ReadPackage(versionsOnly{files}, reg.Packages[uuids[i]].Path)
			}
		})
	}
	wg.Wait()
	return pkgs, errs, ctx.Err()
}

// readSnapshot reads a registry tarball into memory, verifying its digest
// (the whole stream is read, so bundle.Reader checks it at the end).
func readSnapshot(ctx context.Context, open func(context.Context) (io.ReadCloser, error), e bundle.Entry) (fs.FS, error) {
	rc, err := open(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	defer rc.Close()
	files, err := tarx.ReadTarball(rc, tarx.Limits{})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", e.Item, err)
	}
	return files, nil
}

// versionsOnly hides the dependency files of a registry so that
// julia.ReadPackage reads only Package.toml and Versions.toml.
type versionsOnly struct{ fs.FS }

func (v versionsOnly) Open(name string) (fs.File, error) {
	switch path.Base(name) {
	case "Deps.toml", "Compat.toml", "WeakDeps.toml", "WeakCompat.toml":
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return v.FS.Open(name)
}

var versionHeader = regexp.MustCompile(`^\[\s*"([^"\\]*)"\s*\]\s*(#.*)?$`)

// filterVersions returns Versions.toml with only the versions in keep. It
// removes whole tables from the original text, so everything kept stays
// byte for byte; if the file is not in the simple one-table-per-version
// shape RegistryTools writes (checked by parsing the result), it writes
// the kept versions afresh instead.
func filterVersions(raw []byte, pkg *julia.Package, keep map[string]bool, files fs.FS, dir string) []byte {
	var out bytes.Buffer
	in := true
	simple := true
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		t := strings.TrimSpace(string(line))
		if strings.HasPrefix(t, "[") {
			m := versionHeader.FindStringSubmatch(t)
			if m == nil {
				simple = false
				break
			}
			in = keep[m[1]]
		}
		if in {
			out.Write(line)
		}
	}
	if simple && sameVersions(out.Bytes(), pkg, keep, files, dir) {
		return out.Bytes()
	}
	out.Reset()
	infos := make([]string, 0, len(keep))
	for k := range keep {
		infos = append(infos, k)
	}
	slices.SortFunc(infos, func(a, b string) int { return pkg.Versions[a].Version.Compare(pkg.Versions[b].Version) })
	for i, k := range infos {
		if i > 0 {
			out.WriteByte('\n')
		}
		info := pkg.Versions[k]
		fmt.Fprintf(&out, "[%s]\ngit-tree-sha1 = %s\n", tomlString(k), tomlString(info.TreeHash.String()))
		if info.Yanked {
			out.WriteString("yanked = true\n")
		}
	}
	return out.Bytes()
}

// sameVersions parses a filtered Versions.toml and reports whether it
// holds exactly the kept versions, unchanged.
func sameVersions(data []byte, pkg *julia.Package, keep map[string]bool, files fs.FS, dir string) bool {
	pt, err := fs.ReadFile(files, path.Join(dir, "Package.toml"))
	if err != nil {
		return false
	}
	got, err := julia.ReadPackage(mapFS{"p/Package.toml": pt, "p/Versions.toml": data}, "p")
	if err != nil || len(got.Versions) != len(keep) {
		return false
	}
	for k := range keep {
		if g, ok := got.Versions[k]; !ok || !g.Version.Equal(pkg.Versions[k].Version) || g.TreeHash != pkg.Versions[k].TreeHash || g.Yanked != pkg.Versions[k].Yanked {
			return false
		}
	}
	return true
}

var packageLine = regexp.MustCompile(`^\s*"?([0-9a-fA-F-]{36})"?\s*=`)

// filterRegistry returns Registry.toml with only the packages in keep,
// removing lines of the [packages] table from the original text; if the
// result does not parse to exactly those packages it writes the file
// afresh.
func filterRegistry(raw []byte, reg *julia.Registry, keep map[julia.UUID]julia.RegistryPackage) []byte {
	var out bytes.Buffer
	inPkgs := false
	for _, line := range bytes.SplitAfter(raw, []byte("\n")) {
		t := strings.TrimSpace(string(line))
		if strings.HasPrefix(t, "[") {
			inPkgs = t == "[packages]" || strings.HasPrefix(t, "[packages]") && strings.HasPrefix(strings.TrimSpace(t[len("[packages]"):]), "#")
		} else if inPkgs {
			if m := packageLine.FindStringSubmatch(t); m != nil {
				if u, err := julia.ParseUUID(strings.ToLower(m[1])); err == nil {
					if _, ok := keep[u]; !ok {
						continue
					}
				}
			}
		}
		out.Write(line)
	}
	if got, err := julia.ParseRegistry(out.Bytes()); err == nil && got.Name == reg.Name && got.UUID == reg.UUID && len(got.Packages) == len(keep) {
		same := true
		for u, p := range keep {
			if got.Packages[u] != p {
				same = false
				break
			}
		}
		if same {
			return out.Bytes()
		}
	}
	out.Reset()
	fmt.Fprintf(&out, "name = %s\nuuid = %s\n", tomlString(reg.Name), tomlString(reg.UUID.String()))
	if reg.Repo != "" {
		fmt.Fprintf(&out, "repo = %s\n", tomlString(reg.Repo))
	}
	if reg.Description != "" {
		fmt.Fprintf(&out, "description = %s\n", tomlString(reg.Description))
	}
	out.WriteString("\n[packages]\n")
	uuids := make([]julia.UUID, 0, len(keep))
	for u := range keep {
		uuids = append(uuids, u)
	}
	slices.SortFunc(uuids, func(a, b julia.UUID) int { return bytes.Compare(a[:], b[:]) })
	for _, u := range uuids {
		fmt.Fprintf(&out, "%s = { name = %s, path = %s }\n", u, tomlString(keep[u].Name), tomlString(keep[u].Path))
	}
	return out.Bytes()
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// overlay is a read-only file system over base with some directories
// removed and some files replaced: the registry view before it is
// written. It implements what tarx.WriteFS reads: ReadDir, Open (+Stat)
// and ReadLink.
type overlay struct {
	base    fs.FS
	removed map[string]bool   // directories (and files) left out
	set     map[string][]byte // replaced file contents
}

func (o *overlay) gone(name string) bool {
	for p := name; p != "." && p != "/" && p != ""; p = path.Dir(p) {
		if o.removed[p] {
			return true
		}
	}
	return false
}

func (o *overlay) Open(name string) (fs.File, error) {
	if o.gone(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if data, ok := o.set[name]; ok {
		return &memFile{Reader: bytes.NewReader(data), info: fileInfo{name: path.Base(name), size: int64(len(data)), mode: 0o644}}, nil
	}
	return o.base.Open(name)
}

func (o *overlay) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(o.base, name)
	if err != nil {
		return nil, err
	}
	out := ents[:0:0]
	for _, e := range ents {
		p := path.Join(name, e.Name())
		if o.removed[p] {
			continue
		}
		if data, ok := o.set[p]; ok {
			mode := fs.FileMode(0o644)
			if info, err := e.Info(); err == nil {
				mode = info.Mode().Perm()
			}
			out = append(out, fs.FileInfoToDirEntry(fileInfo{name: e.Name(), size: int64(len(data)), mode: mode}))
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func (o *overlay) ReadLink(name string) (string, error) { return fs.ReadLink(o.base, name) }

// mapFS is a flat in-memory file system of a few files.
type mapFS map[string][]byte

func (m mapFS) Open(name string) (fs.File, error) {
	data, ok := m[name]
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &memFile{Reader: bytes.NewReader(data), info: fileInfo{name: path.Base(name), size: int64(len(data)), mode: 0o644}}, nil
}

type fileInfo struct {
	name string
	size int64
	mode fs.FileMode
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }

type memFile struct {
	*bytes.Reader
	info fileInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Close() error               { return nil }
