package transfer

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/julia"
)

// openDownload GETs an Artifacts.toml download URL and returns its body,
// which fails at EOF unless the bytes have the entry's sha256 (as Pkg
// checks for non-server sources, pkg-protocol.md §5).
func openDownload(ctx context.Context, client *http.Client, d julia.Download) (io.ReadCloser, error) {
	if client == nil {
		client = http.DefaultClient
	}
	want, err := hex.DecodeString(d.SHA256)
	if err != nil || len(want) != sha256.Size {
		return nil, fmt.Errorf("bad sha256 %q", d.SHA256)
	}
	if !strings.HasPrefix(d.URL, "https://") && !strings.HasPrefix(d.URL, "http://") {
		return nil, fmt.Errorf("unsupported URL scheme")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "shoebox")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		err := &StatusError{URL: d.URL, Code: resp.StatusCode}
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%w: %w", err, ErrNotFound)
		}
		return nil, err
	}
	return &sha256Body{rc: resp.Body, h: sha256.New(), want: want, url: d.URL}, nil
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
			return n, fmt.Errorf("%s: got sha256 %x, want %x: %w", b.url, got, b.want, ErrChecksum)
		}
	}
	return n, err
}

func (b *sha256Body) Close() error { return b.rc.Close() }
