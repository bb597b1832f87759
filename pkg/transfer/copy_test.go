package transfer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore/pkg/signature"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/shoebox-jl/shoebox/internal/httpx"
	"github.com/shoebox-jl/shoebox/internal/testkit/faultproxy"
	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// copyFixture is a pushed, signed bundle in a layout, shared by the copy
// tests (which never write to it).
type copyFixture struct {
	dir     string
	index   ocispec.Descriptor
	nodes   int // blobs and manifests of the bundle graph
	blobs   int
	maxBlob int64 // size of the largest tarball
	signers map[string]signature.Signer
	pems    map[string][]byte
}

var (
	copyOnce sync.Once
	copyFx   copyFixture
	copyErr  error
)

func newSigner(t *testing.T) (signature.Signer, []byte) {
	t.Helper()
	priv, pub, err := trust.GenerateKey(trust.ECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := trust.LoadPrivateKeyPEM(priv, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// signedBundle pushes the test world's manifests for linux into a layout
// and signs the index with key "a" (cosign .sig and a Sigstore bundle).
func signedBundle(t *testing.T) copyFixture {
	t.Helper()
	w := testWorld(t)
	copyOnce.Do(func() {
		src, _ := staticSource(t, w)
		dir, err := os.MkdirTemp("", "shoebox-copy-")
		if err != nil {
			copyErr = err
			return
		}
		dst, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
		if err != nil {
			copyErr = err
			return
		}
		defer dst.Close()
		res, err := Push(context.Background(), src, dst, PushRequest{Manifests: manifestsOf(t, w)},
			PushOptions{Platforms: []julia.Platform{linux}, Tag: "v1", Created: time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)})
		if err != nil {
			copyErr = err
			return
		}
		fx := copyFixture{dir: dir, index: res.Index, signers: map[string]signature.Signer{}, pems: map[string][]byte{}}
		for _, k := range []string{"a", "b", "c"} {
			fx.signers[k], fx.pems[k] = newSigner(t)
		}
		if _, err := trust.Sign(context.Background(), dst, res.Index, fx.signers["a"], trust.SignOptions{Bundle: true}); err != nil {
			copyErr = err
			return
		}
		rep, err := bundle.Check(context.Background(), dst, res.Index, bundle.CheckOptions{})
		if err != nil {
			copyErr = err
			return
		}
		fx.nodes = rep.Indexes + rep.Manifests + rep.Blobs
		fx.blobs = rep.Blobs
		for _, e := range rep.Entries {
			fx.maxBlob = max(fx.maxBlob, e.Whole.Size)
		}
		copyFx = fx
	})
	if copyErr != nil {
		t.Fatal(copyErr)
	}
	return copyFx
}

func openRO(t *testing.T, dir string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Reference{Kind: store.Layout, Path: dir}, store.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func openRemote(t *testing.T, host, repo string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), store.Reference{Kind: store.Remote, Registry: host, Repository: repo}, store.Options{PlainHTTP: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func policyOf(t *testing.T, threshold int, pems ...[]byte) *trust.Policy {
	t.Helper()
	p, err := trust.PolicyFromKeys(pems...)
	if err != nil {
		t.Fatal(err)
	}
	p.Threshold = threshold
	return p
}

// mustVerify verifies the bundle at tag v1 in s and returns the signature
// formats and signer count.
func mustVerify(t *testing.T, s shelf.Target, pol *trust.Policy, want ocispec.Descriptor) *shelf.VerifyResult {
	t.Helper()
	d, err := s.Resolve(context.Background(), "v1")
	if err != nil {
		t.Fatalf("resolving v1: %v", err)
	}
	if d.Digest != want.Digest {
		t.Fatalf("v1 = %s, want %s", d.Digest, want.Digest)
	}
	res, err := shelf.Verify(context.Background(), s, d, shelf.VerifyOptions{Policy: pol, Deep: true})
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	return res
}

func TestCopy_RoundTrip(t *testing.T) {
	fx := signedBundle(t)
	ctx := context.Background()
	reg := testregistry.New(t, testregistry.Options{})
	src := openRO(t, fx.dir)
	dst := openRemote(t, reg.Host(), "julia/bundle")

	var mu sync.Mutex
	events := map[EventType]int{}
	res, err := Copy(ctx, src, dst, fx.index, []string{"v1"}, CopyOptions{Progress: func(e Event) {
		mu.Lock()
		events[e.Type]++
		mu.Unlock()
	}})
	if err != nil {
		t.Fatalf("Copy layout → registry: %v", err)
	}
	// The bundle graph (and the report's layer, which Check does not count),
	// the .sig manifest with its config and payload, the Sigstore bundle
	// referrer and the provenance record with their layers; each
	// referrer's subject and empty config are there.
	wantCopied := fx.nodes + 1 + 3 + 2 + 2
	if res.Copied != wantCopied || res.Skipped != 4 || res.Signatures != 2 || res.Provenance != 1 || slices.Compare(res.Tags, []string{"v1"}) != 0 {
		t.Errorf("Copy = copied %d, skipped %d, signatures %d, provenance %d, tags %v; want %d, 4, 2, 1, [v1]",
			res.Copied, res.Skipped, res.Signatures, res.Provenance, res.Tags, wantCopied)
	}
	if events[EventDone] != res.Copied || events[EventSkipped] != res.Skipped || events[EventPlanned] != 4 {
		t.Errorf("events = %v, want %d done, %d skipped, 4 planned (graph, .sig, two referrers)", events, res.Copied, res.Skipped)
	}
	tags, err := dst.Tags(ctx)
	if err != nil {
		t.Fatal(err)
	}
	hex := fx.index.Digest.Encoded()
	if want := []string{"sha256-" + hex, "sha256-" + hex + ".sig", "v1"}; slices.Compare(tags, want) != 0 {
		t.Errorf("registry tags = %v, want %v", tags, want)
	}
	v := mustVerify(t, dst, policyOf(t, 1, fx.pems["a"]), fx.index)
	if strings.Join(v.Signature.Formats, ",") != "cosign-sig-tag,sigstore-bundle" || len(v.Signature.Signers) != 1 {
		t.Errorf("signature in the registry = %+v, want both formats, one signer", v.Signature)
	}

	// Again: nothing to copy but the top index is found at once.
	res, err = Copy(ctx, src, dst, fx.index, []string{"v1"}, CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != 0 || res.Skipped != 3 {
		t.Errorf("second Copy: copied %d, skipped %d; want 0, 3 (the index, the two referrers; the .sig tag is the same)", res.Copied, res.Skipped)
	}

	// Registry → a new layout: the same digest, verifying, both formats.
	back := t.TempDir()
	ls, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: back}, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Copy(ctx, dst, ls, fx.index, []string{"v1", "again"}, CopyOptions{Concurrency: 2}); err != nil {
		t.Fatalf("Copy registry → layout: %v", err)
	}
	ls.Close()
	lr := openRO(t, back)
	v = mustVerify(t, lr, policyOf(t, 1, fx.pems["a"]), fx.index)
	if strings.Join(v.Signature.Formats, ",") != "cosign-sig-tag,sigstore-bundle" {
		t.Errorf("signature in the layout = %+v, want both formats", v.Signature)
	}
	if tags, _ := lr.Tags(ctx); slices.Compare(tags, []string{"again", "sha256-" + hex, "sha256-" + hex + ".sig", "v1"}) != 0 {
		t.Errorf("layout tags = %v", tags)
	}
}

func TestCopy_MergesSignatures(t *testing.T) {
	fx := signedBundle(t)
	ctx := context.Background()
	reg := testregistry.New(t, testregistry.Options{})
	dst := openRemote(t, reg.Host(), "julia/merge")
	// The destination holds the bundle counter-signed by b.
	if _, err := Copy(ctx, openRO(t, fx.dir), dst, fx.index, nil, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := trust.Sign(ctx, dst, fx.index, fx.signers["b"], trust.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	// A copy of the source (signed by a) must not drop b's signature.
	if _, err := Copy(ctx, openRO(t, fx.dir), dst, fx.index, []string{"v1"}, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	v := mustVerify(t, dst, policyOf(t, 2, fx.pems["a"], fx.pems["b"]), fx.index)
	if len(v.Signature.Signers) != 2 {
		t.Errorf("signers after merging = %v, want a and b", v.Signature.Signers)
	}
	// Copying once more changes nothing: the merged manifest holds both.
	sigTag := trust.SignatureTag(fx.index.Digest)
	before, _ := dst.Resolve(ctx, sigTag)
	if _, err := Copy(ctx, openRO(t, fx.dir), dst, fx.index, []string{"v1"}, CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	if after, _ := dst.Resolve(ctx, sigTag); after.Digest != before.Digest {
		t.Errorf(".sig changed on a repeated copy: %s → %s", before.Digest, after.Digest)
	}
}

// faultOpts retries fast.
var faultOpts = CopyOptions{Network: httpx.Policy{Backoff: 5 * time.Millisecond}}

func TestCopy_Faults(t *testing.T) {
	fx := signedBundle(t)
	ctx := context.Background()
	pol := policyOf(t, 1, fx.pems["a"])

	t.Run("layout to registry", func(t *testing.T) {
		reg := testregistry.New(t, testregistry.Options{})
		px := faultproxy.New(t, reg.URL(),
			faultproxy.Rule{Method: http.MethodPut, Path: "/blobs/uploads/", Fault: faultproxy.ResetRequest, Times: 2, MinBody: 1024},
			faultproxy.Rule{Method: http.MethodPut, Path: "/blobs/uploads/", Fault: faultproxy.Status500, Skip: 3, Times: 2},
			faultproxy.Rule{Method: http.MethodPut, Path: "/manifests/", Fault: faultproxy.Status500, Skip: 1, Times: 2},
		)
		dst := openRemote(t, px.Host(), "julia/faults")
		res, err := Copy(ctx, openRO(t, fx.dir), dst, fx.index, []string{"v1"}, faultOpts)
		if err != nil {
			t.Fatalf("Copy through faults: %v (injected %q)", err, px.Injected())
		}
		// Manifest bodies are rewound and sent again by the registry
		// client's retrying transport; blob uploads stream and are retried
		// by Copy.
		if n := len(px.Injected()); n != 6 || res.Retries != 4 {
			t.Errorf("injected %d faults %q, %d retries; want 6 injected, 4 retried by Copy", n, px.Injected(), res.Retries)
		}
		mustVerify(t, openRemote(t, reg.Host(), "julia/faults"), pol, fx.index)
	})

	t.Run("registry to layout", func(t *testing.T) {
		reg := testregistry.New(t, testregistry.Options{})
		if _, err := Copy(ctx, openRO(t, fx.dir), openRemote(t, reg.Host(), "julia/src"), fx.index, []string{"v1"}, CopyOptions{}); err != nil {
			t.Fatal(err)
		}
		px := faultproxy.New(t, reg.URL(),
			faultproxy.Rule{Method: http.MethodGet, Path: "/blobs/sha256:", Fault: faultproxy.ResetResponse, Times: 3, MinBody: 1024},
			faultproxy.Rule{Method: http.MethodGet, Path: "/manifests/", Fault: faultproxy.Status500, Times: 2},
		)
		dir := t.TempDir()
		ls, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Copy(ctx, openRemote(t, px.Host(), "julia/src"), ls, fx.index, []string{"v1"}, faultOpts); err != nil {
			t.Fatalf("Copy through faults: %v (injected %q)", err, px.Injected())
		}
		ls.Close()
		if n := len(px.Injected()); n != 5 {
			t.Errorf("injected %q, want 5 faults", px.Injected())
		}
		mustVerify(t, openRO(t, dir), pol, fx.index)
	})

	t.Run("registry that stalls", func(t *testing.T) {
		reg := testregistry.New(t, testregistry.Options{})
		if _, err := Copy(ctx, openRO(t, fx.dir), openRemote(t, reg.Host(), "julia/src"), fx.index, []string{"v1"}, CopyOptions{}); err != nil {
			t.Fatal(err)
		}
		// A blob that stops after half its body, a manifest never answered:
		// each costs the stall timeout, then a retry gets it.
		px := faultproxy.New(t, reg.URL(),
			faultproxy.Rule{Method: http.MethodGet, Path: "/blobs/sha256:", Fault: faultproxy.StallResponse, MinBody: 1024},
			faultproxy.Rule{Method: http.MethodGet, Path: "/manifests/", Fault: faultproxy.StallHeaders},
		)
		dir := t.TempDir()
		ls, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		stall := httpx.Policy{StallTimeout: 50 * time.Millisecond, Backoff: time.Millisecond}
		src, err := store.Open(ctx, store.Reference{Kind: store.Remote, Registry: px.Host(), Repository: "julia/src"},
			store.Options{PlainHTTP: true, Network: stall})
		if err != nil {
			t.Fatal(err)
		}
		res, err := Copy(ctx, src, ls, fx.index, []string{"v1"}, CopyOptions{Network: stall})
		if err != nil {
			t.Fatalf("Copy from a stalling registry: %v (injected %q)", err, px.Injected())
		}
		ls.Close()
		if got := px.Injected(); len(got) != 2 || !strings.HasPrefix(got[0], "stall-") || !strings.HasPrefix(got[1], "stall-") {
			t.Errorf("injected %q, want two stalls", got)
		}
		if res.Retries < 1 {
			t.Errorf("%d retries by Copy, want the stalled blob fetched again", res.Retries)
		}
		mustVerify(t, openRO(t, dir), pol, fx.index)
	})

	t.Run("persistent failure, then resume", func(t *testing.T) {
		reg := testregistry.New(t, testregistry.Options{})
		// The largest tarball's upload is cut every time.
		px := faultproxy.New(t, reg.URL(),
			faultproxy.Rule{Method: http.MethodPut, Path: "/blobs/uploads/", Fault: faultproxy.ResetRequest, Times: 1000, MinBody: fx.maxBlob})
		dst := openRemote(t, px.Host(), "julia/broken")
		res1, err := Copy(ctx, openRO(t, fx.dir), dst, fx.index, []string{"v1"}, CopyOptions{Network: httpx.Policy{Attempts: 3, Backoff: time.Millisecond}})
		if err == nil || !strings.Contains(err.Error(), "bundle "+fx.index.Digest.String()+": ") ||
			!strings.Contains(err.Error(), "(application/vnd.oci.image.layer.v1.tar+gzip): ") {
			t.Fatalf("Copy = %v, want a clear failure naming the bundle and the blob", err)
		}
		if n := len(px.Injected()); n != 3 {
			t.Errorf("injected %q, want 3 (the attempts)", px.Injected())
		}
		direct := openRemote(t, reg.Host(), "julia/broken")
		if _, err := direct.Resolve(ctx, "v1"); !errors.Is(err, errdef.ErrNotFound) {
			t.Errorf("after the failure, v1 resolves: %v; want not found (nothing partial visible)", err)
		}
		if tags, _ := direct.Tags(ctx); len(tags) != 0 {
			t.Errorf("after the failure, tags %v; want none", tags)
		}
		// The re-run copies only what is missing: the blobs the first run
		// stored are skipped (at least those it counted; uploads cut short
		// by the failure's cancellation may have landed too).
		res2, err := Copy(ctx, openRO(t, fx.dir), direct, fx.index, []string{"v1"}, CopyOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// In all: the bundle (and its report's layer), the .sig manifest
		// with config and payload, two referrers (the Sigstore bundle and
		// the provenance record) with their layers, and for each referrer
		// its subject and empty config, found there.
		if res1.Copied == 0 || res2.Skipped < res1.Copied+4 || res2.Copied+res2.Skipped != fx.nodes+1+3+4+4 {
			t.Errorf("first run copied %d; resume copied %d, skipped %d; want at least %d skipped (+4 for the referrers' subject and config), %d in all",
				res1.Copied, res2.Copied, res2.Skipped, res1.Copied+4, fx.nodes+1+3+4+4)
		}
		mustVerify(t, direct, pol, fx.index)
	})
}

func TestRetryable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	resp := func(code int) error {
		return fmt.Errorf("pushing: %w", &errcode.ErrorResponse{Method: http.MethodPut, URL: &url.URL{Path: "/v2/x/blobs/uploads/1"}, StatusCode: code})
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"500", ctx, resp(500), true},
		{"503", ctx, resp(503), true},
		{"429", ctx, resp(429), true},
		{"408", ctx, resp(408), true},
		{"400", ctx, resp(400), false},
		{"413", ctx, resp(413), false},
		{"connection reset", ctx, fmt.Errorf("put: %w", syscall.ECONNRESET), true},
		{"cut body", ctx, fmt.Errorf("read: %w", io.ErrUnexpectedEOF), true},
		{"not found", ctx, fmt.Errorf("x: %w", errdef.ErrNotFound), false},
		{"corrupt source", ctx, fmt.Errorf("x: %w", content.ErrMismatchedDigest), false},
		{"unauthorized", ctx, fmt.Errorf("x: %w", store.ErrUnauthorized), false},
		{"disk full", ctx, &os.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}, false},
		{"cancelled", cancelled, resp(500), false},
		{"status error 404", ctx, &upstream.StatusError{URL: "http://x", Code: 404}, false},
		{"joined 502", ctx, errors.Join(errors.New("a"), resp(502)), true},
	} {
		if got := retryable(tc.ctx, tc.err); got != tc.want {
			t.Errorf("%s: retryable(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

func FuzzSuccessors(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:` + strings.Repeat("a", 64) + `","size":2},"layers":[]}`))
	f.Add([]byte(`{"manifests":[{"digest":"sha256:zz"}]}`))
	f.Add([]byte(`{"subject":{"digest":"sha256:` + strings.Repeat("b", 64) + `"},"blobs":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ds, err := successors(b)
		if err != nil {
			return
		}
		for _, d := range ds {
			if d.Digest.Validate() != nil {
				t.Fatalf("successors accepted an invalid digest %q", d.Digest)
			}
		}
	})
}

// The edge struct's tag spells bundle.AnnotationName (a tag cannot name
// the constant).
func TestEdge_NameTag(t *testing.T) {
	var e edge
	b := []byte(`{"digest":"sha256:` + strings.Repeat("a", 64) + `","annotations":{"` + bundle.AnnotationName + `":"Example","other":"x"}}`)
	if err := json.Unmarshal(b, &e); err != nil || e.Annotations.Name != "Example" {
		t.Errorf("edge = %+v, %v; want the name annotation", e, err)
	}
}
