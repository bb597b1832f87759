package pkgserver

import (
	"context"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
)

// BlobFiler is implemented by fetchers whose blobs are files on this
// machine (store.Store over an OCI layout). Through it BundleSource opens
// a tarball's file itself, so that VerifiedFiles can remember it.
type BlobFiler interface {
	// OpenBlobFile opens the file holding desc's blob, positioned at 0.
	// A store without local files returns an error.
	OpenBlobFile(ctx context.Context, desc ocispec.Descriptor) (*os.File, error)
}

// DefaultSettleTime is how old a file's last change must be before
// VerifiedFiles trusts its identity (see NewVerifiedFiles).
const DefaultSettleTime = 2 * time.Second

// VerifiedFiles remembers the layout files whose whole content verified
// against their digest while being served, by file identity: device,
// inode, size, modification time and status-change time. A file whose
// identity is unchanged since it verified is sent as it is (sendfile(2),
// no hashing); any write to it, a truncation, a replacement or a chmod
// changes its ctime, which no user can set back, so the next request
// hashes it again, and a mismatch withdraws the item as before. This is
// git's index stat cache applied to blobs, and like git it distrusts
// "racy" files: a file changed less than the settle time before it was
// opened is hashed on every request until it is older, because two
// changes within one tick of the file system clock leave the same
// timestamps. Only raw writes to the block device escape it; per-request
// hashing (no VerifiedFiles) is the choice for those who must rule that
// out.
//
// Identity is read from stat(2) on Linux; elsewhere nothing is
// remembered and every request hashes. One VerifiedFiles may outlive the
// BundleSources that use it (see SourceOptions.Files). It is safe for
// concurrent use.
type VerifiedFiles struct {
	settle time.Duration

	mu sync.RWMutex
	m  map[digest.Digest]fileID
}

// fileID is a file's identity; zero when unknown.
type fileID struct {
	dev, ino     uint64
	size         int64
	mtime, ctime int64 // nanoseconds since the epoch
}

// NewVerifiedFiles returns an empty VerifiedFiles that trusts files last
// changed at least settle before they were opened (DefaultSettleTime if
// settle < 0; 0 trusts any file, for tests that control their clocks).
func NewVerifiedFiles(settle time.Duration) *VerifiedFiles {
	if settle < 0 {
		settle = DefaultSettleTime
	}
	return &VerifiedFiles{settle: settle, m: map[digest.Digest]fileID{}}
}

// Len reports how many files are remembered.
func (v *VerifiedFiles) Len() int {
	if v == nil {
		return 0
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.m)
}

// verified reports whether the open file with identity id is the one that
// verified as d.
func (v *VerifiedFiles) verified(d digest.Digest, id fileID) bool {
	if id == (fileID{}) {
		return false
	}
	v.mu.RLock()
	got, ok := v.m[d]
	v.mu.RUnlock()
	return ok && got == id
}

// settled reports whether a file with identity id, opened at opened, may
// be remembered once it verifies.
func (v *VerifiedFiles) settled(id fileID, opened time.Time) bool {
	limit := opened.Add(-v.settle).UnixNano()
	return id != (fileID{}) && id.mtime <= limit && id.ctime <= limit
}

func (v *VerifiedFiles) put(d digest.Digest, id fileID) {
	v.mu.Lock()
	v.m[d] = id
	v.mu.Unlock()
}

func (v *VerifiedFiles) drop(d digest.Digest) {
	if v == nil {
		return
	}
	v.mu.Lock()
	delete(v.m, d)
	v.mu.Unlock()
}

// openFile opens e's tarball as a file when the fetcher has files: the
// file itself if it verified before, else a verifying reader over it that
// remembers the file once it verifies in full. ok is false when there is
// no file to open (a split item, a remote store): the caller falls back.
func (s *BundleSource) openFile(ctx context.Context, d ocispec.Descriptor) (f *os.File, id fileID, settled bool, ok bool) {
	if s.files == nil || s.filer == nil {
		return nil, fileID{}, false, false
	}
	opened := time.Now()
	f, err := s.filer.OpenBlobFile(ctx, d)
	if err != nil {
		return nil, fileID{}, false, false
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != d.Size {
		// Let the verifying path report it.
		f.Close()
		return nil, fileID{}, false, false
	}
	id = statID(fi)
	return f, id, s.files.settled(id, opened), true
}

// oneFile is a fetcher that hands out an already-open file once for its
// digest and defers to next for anything else.
type oneFile struct {
	mu   sync.Mutex
	f    *os.File
	d    digest.Digest
	next content.Fetcher
}

func (o *oneFile) Fetch(ctx context.Context, desc ocispec.Descriptor) (io.ReadCloser, error) {
	o.mu.Lock()
	f := o.f
	if desc.Digest == o.d && f != nil {
		o.f = nil
		o.mu.Unlock()
		return f, nil
	}
	o.mu.Unlock()
	return o.next.Fetch(ctx, desc)
}

// close closes the file if it was never handed out.
func (o *oneFile) close() {
	o.mu.Lock()
	if o.f != nil {
		o.f.Close()
		o.f = nil
	}
	o.mu.Unlock()
}
