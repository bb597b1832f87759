package store

import (
	"context"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path/filepath"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// IngestOptions configure Store.Ingest. The zero value stores the stream as
// one blob with no check.
type IngestOptions struct {
	// Verify, if set, is called once the whole stream has been read and
	// hashed, with the descriptor of the whole stream (media type, sha256
	// digest, size, Annotations), before any blob becomes visible. An error
	// aborts the ingest: the temporary files are removed, nothing enters the
	// store, and Ingest returns the error wrapped.
	Verify func(whole ocispec.Descriptor) error

	// MaxPartSize, if > 0, splits the stream into consecutive parts of at
	// most this many bytes, each stored as its own blob; their
	// concatenation is the stream. 0 stores one blob. An empty stream gives
	// one empty part.
	MaxPartSize int64

	// TempDir is where a remote store spools the stream before pushing it
	// (the whole stream, since the digest is only known at the end and the
	// registry must not see a blob that fails Verify). "" means
	// os.TempDir(). A layout ignores it and always writes its temporary
	// files under <layout>/ingest, on the layout's own file system, so that
	// the finished blob is renamed into place, never copied.
	TempDir string

	// Annotations are set on the whole descriptor and on every part.
	Annotations map[string]string
}

// Ingest stores content whose digest is not known in advance, reading r
// exactly once. It hashes the stream as it writes it to temporary files,
// calls opts.Verify with the whole-stream descriptor, then makes the parts
// visible; a part already stored is not written again (dedup).
//
// It returns the descriptor of the whole stream and the descriptors of the
// stored parts, in order (one part, equal to whole, unless MaxPartSize
// splits the stream). With several parts, whole describes their
// concatenation, which is not itself stored.
//
// Peak extra disk use is the size of the stream, in the layout (renamed into
// place) or in opts.TempDir (remote, removed after the push).
func (s *Store) Ingest(ctx context.Context, mediaType string, r io.Reader, opts IngestOptions) (whole ocispec.Descriptor, parts []ocispec.Descriptor, err error) {
	if err := s.checkWritable(); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	if mediaType == "" {
		mediaType = "application/octet-stream"
	}
	return s.b.ingest(ctx, mediaType, r, opts)
}

// spoolPart is one finished, closed temporary part (not fsynced: a layout
// makes it durable with its group commit, a registry upload deletes it).
type spoolPart struct {
	path string
	desc ocispec.Descriptor
}

// spool reads r once into temporary files in dir (named prefix*), at most
// maxPart bytes each (0: unlimited), hashing each part and the whole. On
// error every temporary file is removed. The files are left read-only.
func spool(ctx context.Context, dir, prefix, mediaType string, r io.Reader, maxPart int64, annotations map[string]string) (whole ocispec.Descriptor, parts []spoolPart, err error) {
	defer func() {
		if err != nil {
			removeSpooled(parts)
			parts = nil
		}
	}()
	var (
		wholeH = digest.SHA256.Hash()
		total  int64
		cur    *os.File
		curH   hash.Hash
		curN   int64
	)
	finish := func() error {
		if cur == nil {
			return nil
		}
		f := cur
		cur = nil
		if err := f.Chmod(blobMode); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		parts[len(parts)-1].desc.Digest = digest.NewDigest(digest.SHA256, curH)
		parts[len(parts)-1].desc.Size = curN
		return nil
	}
	start := func() error {
		f, err := os.CreateTemp(dir, prefix+"*")
		if err != nil {
			return err
		}
		cur, curH, curN = f, digest.SHA256.Hash(), 0
		parts = append(parts, spoolPart{path: f.Name(), desc: ocispec.Descriptor{MediaType: mediaType, Annotations: maps.Clone(annotations)}})
		return nil
	}
	defer func() {
		if cur != nil {
			cur.Close()
		}
	}()

	bp := getBuf()
	defer putBuf(bp)
	buf := *bp
	for {
		if err := ctx.Err(); err != nil {
			return whole, parts, err
		}
		want := int64(len(buf))
		if maxPart > 0 {
			room := maxPart
			if cur != nil && curN < maxPart {
				room = maxPart - curN
			}
			want = min(want, room)
		}
		n, rerr := r.Read(buf[:want])
		if n > 0 {
			if cur == nil || (maxPart > 0 && curN == maxPart) {
				if err := finish(); err != nil {
					return whole, parts, err
				}
				if err := start(); err != nil {
					return whole, parts, err
				}
			}
			if _, err := cur.Write(buf[:n]); err != nil {
				return whole, parts, fmt.Errorf("writing %s: %w", cur.Name(), err)
			}
			curH.Write(buf[:n])
			wholeH.Write(buf[:n])
			curN += int64(n)
			total += int64(n)
		}
		if errors.Is(rerr, io.EOF) {
			break
		}
		if rerr != nil {
			return whole, parts, fmt.Errorf("reading stream: %w", rerr)
		}
	}
	if len(parts) == 0 {
		if err := start(); err != nil {
			return whole, parts, err
		}
	}
	if err := finish(); err != nil {
		return whole, parts, err
	}
	whole = ocispec.Descriptor{MediaType: mediaType, Digest: digest.NewDigest(digest.SHA256, wholeH), Size: total, Annotations: maps.Clone(annotations)}
	return whole, parts, nil
}

func removeSpooled(parts []spoolPart) {
	for _, p := range parts {
		os.Remove(p.path)
	}
}

func partDescs(parts []spoolPart) []ocispec.Descriptor {
	out := make([]ocispec.Descriptor, len(parts))
	for i, p := range parts {
		out[i] = p.desc
	}
	return out
}

func verifyWhole(opts IngestOptions, whole ocispec.Descriptor) error {
	if opts.Verify == nil {
		return nil
	}
	if err := opts.Verify(whole); err != nil {
		return fmt.Errorf("%s: rejected: %w", whole.Digest, err)
	}
	return nil
}

func (l *layout) ingest(ctx context.Context, mediaType string, r io.Reader, opts IngestOptions) (ocispec.Descriptor, []ocispec.Descriptor, error) {
	dir := filepath.Join(l.root, ingestDirName)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("layout %s: %w", l.root, err)
	}
	whole, parts, err := spool(ctx, dir, ingestTmpPrefix+"ingest-", mediaType, r, opts.MaxPartSize, opts.Annotations)
	if err != nil {
		return ocispec.Descriptor{}, nil, fmt.Errorf("layout %s: ingesting: %w", l.root, err)
	}
	defer removeSpooled(parts) // no-op for the renamed ones
	if err := verifyWhole(opts, whole); err != nil {
		return ocispec.Descriptor{}, nil, err
	}
	for _, p := range parts {
		target, err := l.blobPath(p.desc.Digest)
		if err != nil {
			return ocispec.Descriptor{}, nil, err
		}
		if blobPresent(target, p.desc.Size) {
			continue // dedup: the temporary file goes in the deferred cleanup
		}
		if err := os.MkdirAll(filepath.Dir(target), dirMode); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("layout %s: %w", l.root, err)
		}
		if err := os.Rename(p.path, target); err != nil {
			return ocispec.Descriptor{}, nil, fmt.Errorf("layout %s: %w", l.root, err)
		}
		l.pending.add(target)
	}
	return whole, partDescs(parts), nil
}
