package advisory

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"strings"
)

// MaxArchiveSize bounds a zip of advisories read into memory (the whole
// OSV export of every ecosystem is a few hundred MiB; Julia's is about
// 10 MiB).
const MaxArchiveSize = 512 << 20

// OpenSource opens a source of OSV advisories as a file system for Load:
// a directory (a checkout of an OSV export), a .zip file of one, or an
// http(s) URL of a zip (or of one .json advisory). client fetches URLs;
// nil means http.DefaultClient. The caller reads what it needs and drops
// the result; nothing stays open.
func OpenSource(ctx context.Context, src string, client *http.Client) (fs.FS, error) {
	if strings.HasPrefix(src, "http://") || strings.HasPrefix(src, "https://") {
		return openURL(ctx, src, client)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return nil, fmt.Errorf("advisories %s: %w", src, err)
	}
	if fi.IsDir() {
		return os.DirFS(src), nil
	}
	b, err := readBounded(os.Open(src))
	if err != nil {
		return nil, fmt.Errorf("advisories %s: %w", src, err)
	}
	return zipFS(src, b)
}

func readBounded(f *os.File, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAllMax(f, MaxArchiveSize)
}

func readAllMax(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("over %d bytes: %w", max, ErrInvalid)
	}
	return b, nil
}

func zipFS(name string, b []byte) (fs.FS, error) {
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, fmt.Errorf("advisories %s: not a zip of OSV files: %v: %w", name, err, ErrInvalid)
	}
	return zr, nil
}

func openURL(ctx context.Context, url string, client *http.Client) (fs.FS, error) {
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("advisories %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("advisories %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("advisories %s: HTTP %s", url, resp.Status)
	}
	b, err := readAllMax(resp.Body, MaxArchiveSize)
	if err != nil {
		return nil, fmt.Errorf("advisories %s: %w", url, err)
	}
	if bytes.HasPrefix(b, []byte("PK\x03\x04")) {
		return zipFS(url, b)
	}
	name := url[strings.LastIndexByte(url, '/')+1:]
	if !strings.HasSuffix(name, ".json") {
		name = "advisory.json"
	}
	return singleFS{name: name, data: b}, nil
}
