package store_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

// TestFetch_NeverFollows plays the one who can write the stick: a blob
// path replaced by a symbolic link (to a file the server can read), a
// FIFO, a directory, a shorter or longer file, or reached through a
// symlinked blobs/sha256, is refused before a byte is read, with
// ErrBadBlobFile and an integrity error; a hardlink of the right size is
// an ordinary file (its digest decides).
func TestFetch_NeverFollows(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	layout := filepath.Join(dir, "layout")
	st, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: layout}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("shoebox "), 512)
	d := content.NewDescriptorFromBytes("application/octet-stream", data)
	if err := st.Push(ctx, d, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	st.Close()
	ro, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: layout}, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(layout, "blobs", "sha256", d.Digest.Encoded())
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, bytes.Repeat([]byte("S"), len(data)), 0o644); err != nil {
		t.Fatal(err)
	}
	restore := func() {
		os.RemoveAll(blob)
		if err := os.WriteFile(blob, data, 0o444); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name    string
		damage  func()
		wantErr string // "" for a file that opens
	}{
		{"regular", func() {}, ""},
		{"symlink to a readable file of the right size", func() { os.Remove(blob); os.Symlink(secret, blob) }, "a symbolic link"},
		{"FIFO", func() { os.Remove(blob); syscall.Mkfifo(blob, 0o644) }, "a FIFO"},
		{"directory", func() { os.Remove(blob); os.Mkdir(blob, 0o755) }, "a directory"},
		{"truncated", func() { os.Chmod(blob, 0o644); os.Truncate(blob, int64(len(data)-1)) }, "4095 bytes, want 4096"},
		{"extended", func() {
			os.Chmod(blob, 0o644)
			f, _ := os.OpenFile(blob, os.O_APPEND|os.O_WRONLY, 0)
			f.Write([]byte("x"))
			f.Close()
		}, "4097 bytes, want 4096"},
		{"hardlink of the right size", func() { os.Remove(blob); os.Link(secret, blob) }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore()
			tc.damage()
			rc, err := ro.Fetch(ctx, d)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Fetch = %v", err)
				}
				rc.Close()
				return
			}
			if err == nil {
				b, _ := io.ReadAll(rc)
				rc.Close()
				t.Fatalf("Fetch opened it (%d bytes); want %q", len(b), tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, store.ErrBadBlobFile) || !errors.Is(err, content.ErrMismatchedDigest) {
				t.Errorf("Fetch = %v; want %q, ErrBadBlobFile, ErrMismatchedDigest", err, tc.wantErr)
			}
			if _, err := ro.OpenBlobFile(ctx, d); !errors.Is(err, store.ErrBadBlobFile) {
				t.Errorf("OpenBlobFile = %v; want ErrBadBlobFile", err)
			}
		})
	}
	restore()
	os.Remove(blob)
	if _, err := ro.Fetch(ctx, d); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("Fetch of a missing blob = %v; want ErrNotFound", err)
	}
	if _, err := ro.StatBlob(ctx, d); !errors.Is(err, errdef.ErrNotFound) {
		t.Errorf("StatBlob of a missing blob = %v; want ErrNotFound", err)
	}
	restore()
	a, err := ro.StatBlob(ctx, d)
	if err != nil || a.Size != int64(len(data)) || !a.Mode.IsRegular() {
		t.Fatalf("StatBlob = %+v, %v", a, err)
	}
	os.Chmod(blob, 0o644) // the ctime changes: another identity
	if b, _ := ro.StatBlob(ctx, d); b == a {
		t.Errorf("StatBlob after chmod = %+v, the same as before", b)
	}
	// blobs/sha256 itself replaced by a link to a copy elsewhere.
	shaDir := filepath.Join(layout, "blobs", "sha256")
	other := filepath.Join(dir, "other-sha256")
	if err := os.Rename(shaDir, other); err != nil {
		t.Fatal(err)
	}
	os.Symlink(other, shaDir)
	if _, err := ro.Fetch(ctx, d); !errors.Is(err, store.ErrBadBlobFile) || !strings.Contains(err.Error(), "a symbolic link") {
		t.Errorf("Fetch through a symlinked blobs/sha256 = %v; want a symbolic link refused", err)
	}
}
