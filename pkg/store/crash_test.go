package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/store"
)

// crashChildEnv, when set to a layout path, makes TestLayout_KilledWriter
// act as the writer that gets killed; crashNamedEnv=1 makes it use named
// temporary files.
const (
	crashChildEnv = "SHOEBOX_STORE_TEST_CRASH_CHILD"
	crashNamedEnv = "SHOEBOX_STORE_TEST_CRASH_NAMED"
)

// pushItem pushes item i (a 64 KiB layer and a manifest) and tags it.
func pushItem(ctx context.Context, s *store.Store, i int) error {
	layer := bytes.Repeat([]byte(fmt.Sprintf("item %04d ", i)), 64<<10/10)
	ld := content.NewDescriptorFromBytes("application/vnd.shoebox.test.layer", layer)
	if err := s.Push(ctx, ld, bytes.NewReader(layer)); err != nil {
		return err
	}
	md, err := oras.PackManifest(ctx, s, oras.PackManifestVersion1_1, "application/vnd.shoebox.test.item", oras.PackManifestOptions{
		Layers:              []ocispec.Descriptor{ld},
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: "2000-01-01T00:00:00Z"},
	})
	if err != nil {
		return err
	}
	return s.Tag(ctx, md, fmt.Sprintf("t%04d", i))
}

// endless is an upstream tarball that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i)
	}
	time.Sleep(time.Millisecond)
	return len(p), nil
}

func crashChild(dir string) {
	ctx := context.Background()
	if os.Getenv(crashNamedEnv) == "1" {
		*store.AnonBlobs = false
	}
	s, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	go s.Ingest(ctx, "application/gzip", endless{}, store.IngestOptions{}) //nolint:errcheck // killed before it ends
	for i := 0; ; i++ {
		if err := pushItem(ctx, s, i); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
	}
}

// TestLayout_KilledWriter kills (SIGKILL) a writer that is tagging items
// and streaming an endless ingest, then checks that the layout is valid,
// every blob file is complete, the lock is free, the temporary files go
// away (unnamed ones with the writer, named ones on the next writable
// open), and re-running the pushes completes.
func TestLayout_KilledWriter(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	withAnonBlobs(t, testKilledWriter)
}

func testKilledWriter(t *testing.T, anon bool) {
	dir := t.TempDir()
	if anon {
		s := openLayout(t, dir, store.Options{})
		ok := store.UsesAnonBlobs(s)
		s.Close()
		if !ok {
			t.Skip("no O_TMPFILE here")
		}
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestLayout_KilledWriter$")
	named := "0"
	if !anon {
		named = "1"
	}
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir, crashNamedEnv+"="+named)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait for at least 20 tags and 1 MiB of the endless ingest on disk.
	deadline := time.Now().Add(60 * time.Second)
	for {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child made no progress; stderr: %s", stderr.String())
		}
		if countTags(dir) >= 20 && ingestBytes(dir)+unnamedBytes(cmd.Process.Pid, dir) >= 1<<20 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	// The index is valid and everything it lists is there.
	ctx := context.Background()
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil || !json.Valid(b) {
		t.Fatalf("index.json after the kill: %v, valid=%v", err, json.Valid(b))
	}
	if n := ingestBytes(dir); anon && n != 0 {
		t.Fatalf("%d bytes of named temporary files with unnamed ones on", n)
	} else if !anon && n < 1<<20 {
		t.Fatal("no partial ingest left behind; the kill did not happen mid-write")
	}
	checkBlobFiles(t, dir)
	ro := openLayout(t, dir, store.Options{ReadOnly: true})
	tags, err := ro.Tags(ctx)
	if err != nil || len(tags) < 20 {
		t.Fatalf("Tags() after the kill = %d, %v", len(tags), err)
	}
	for _, tag := range tags {
		d, err := ro.Resolve(ctx, tag)
		if err != nil {
			t.Fatalf("Resolve(%s) = %v", tag, err)
		}
		m, err := content.FetchAll(ctx, ro, d)
		if err != nil {
			t.Fatalf("manifest %s (%s): %v", tag, d.Digest, err)
		}
		var man ocispec.Manifest
		if err := json.Unmarshal(m, &man); err != nil || len(man.Layers) != 1 {
			t.Fatalf("manifest %s: %v", tag, err)
		}
		if _, err := content.FetchAll(ctx, ro, man.Layers[0]); err != nil {
			t.Fatalf("layer of %s: %v", tag, err)
		}
	}

	// The lock died with the writer: a new writer gets it at once, and
	// removes the temporary files.
	w, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
	if err != nil {
		t.Fatalf("Open(writer) after the kill = %v", err)
	}
	defer w.Close()
	if n := ingestBytes(dir); n != 0 {
		t.Errorf("%d bytes of temporary files left after reopening", n)
	}
	if ents, _ := filepath.Glob(filepath.Join(dir, ".index.json.tmp-*")); len(ents) != 0 {
		t.Errorf("index temporary files left: %v", ents)
	}

	// Re-running completes: every item up to the last one started.
	n := len(tags) + 5
	for i := range n {
		if err := pushItem(ctx, w, i); err != nil {
			t.Fatalf("re-run item %d: %v", i, err)
		}
	}
	got, err := w.Tags(ctx)
	if err != nil || len(got) < n {
		t.Fatalf("Tags() after the re-run = %d, %v; want ≥ %d", len(got), err, n)
	}
}

// checkBlobFiles checks that every file in blobs/sha256 has the content
// its name says.
func checkBlobFiles(t *testing.T, dir string) {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != e.Name() {
			t.Errorf("blob file %s holds %d bytes of other content", e.Name(), len(b))
		}
	}
}

// unnamedBytes is the size of the unnamed files process pid is writing in
// the layout dir.
func unnamedBytes(pid int, dir string) int64 {
	var n int64
	for _, fi := range unnamedFiles(strconv.Itoa(pid), filepath.Join(dir, "blobs", "sha256")) {
		n += fi.Size()
	}
	return n
}

func countTags(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), ocispec.AnnotationRefName)
}

func ingestBytes(dir string) int64 {
	var n int64
	ents, _ := os.ReadDir(filepath.Join(dir, "ingest"))
	for _, e := range ents {
		if fi, err := e.Info(); err == nil {
			n += fi.Size()
		}
	}
	return n
}
