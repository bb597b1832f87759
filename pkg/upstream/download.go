package upstream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/shoebox-jl/shoebox/internal/httpx"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Downloads fetches artifacts from the download URLs of Artifacts.toml
// entries, as Pkg does when no server has them. The zero value works.
type Downloads struct {
	// Client is the HTTP client; nil means one like a PkgServer's. Its
	// transport is wrapped in an httpx.Transport under Policy.
	Client *http.Client
	// Policy bounds retries and stalls (the zero value is the default).
	Policy httpx.Policy
}

// Open GETs a download URL and returns its body, which fails at its end
// unless the bytes have the entry's sha256 (as Pkg checks for non-server
// sources, pkg-protocol.md §5), with an error wrapping ErrChecksum. A cut
// or stalled transfer is resumed (httpx.Get); a 404 or 410 wraps
// ErrNotFound.
func (d Downloads) Open(ctx context.Context, dl julia.Download) (io.ReadCloser, error) {
	want, err := hex.DecodeString(dl.SHA256)
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("bad sha256 %q", dl.SHA256)
	}
	if !strings.HasPrefix(dl.URL, "https://") && !strings.HasPrefix(dl.URL, "http://") {
		return nil, fmt.Errorf("unsupported URL scheme")
	}
	h := http.Header{}
	h.Set("User-Agent", "shoebox")
	rc, err := httpx.Get(ctx, wrapClient(d.Client, d.Policy), dl.URL, h, d.Policy)
	if err != nil {
		return nil, notFound(err)
	}
	return &sha256Body{rc: rc, h: sha256.New(), want: want, url: dl.URL}, nil
}

// ErrChecksum means downloaded bytes do not have the sha256 their
// Artifacts.toml entry promises.
var ErrChecksum = fmt.Errorf("sha256 mismatch")

type sha256Body struct {
	rc   io.ReadCloser
	h    hash.Hash
	want []byte
	url  string
}

func (b *sha256Body) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.h.Write(p[:n])
	if err == io.EOF {
		if got := b.h.Sum(nil); string(got) != string(b.want) {
			return n, BadContent(fmt.Errorf("%s: got sha256 %x, want %x: %w", b.url, got, b.want, ErrChecksum))
		}
	}
	return n, err
}

func (b *sha256Body) Close() error { return b.rc.Close() }

// Source returns a Source over one download URL: it gives the artifact
// whose tree hash is h, from dl (Open), and has nothing else. Its name is
// the URL.
func (d Downloads) Source(h treehash.Hash, dl julia.Download) Source {
	return downloadSource{d: d, h: h, dl: dl}
}

type downloadSource struct {
	d  Downloads
	h  treehash.Hash
	dl julia.Download
}

func (s downloadSource) Name() string { return s.dl.URL }

func (s downloadSource) Fetch(ctx context.Context, r Resource) (io.ReadCloser, error) {
	if r.Kind != KindArtifact || r.Hash != s.h {
		return nil, fmt.Errorf("%s: not at %s: %w", r, s.dl.URL, ErrNotFound)
	}
	return s.d.Open(ctx, s.dl)
}
