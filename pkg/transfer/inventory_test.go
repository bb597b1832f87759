package transfer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

var created = time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)

func inventoryJSON(t *testing.T, inv *Inventory) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := inv.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func buildInventory(t *testing.T, s *store.Store) *Inventory {
	t.Helper()
	inv, err := BuildInventory(context.Background(), s)
	if err != nil {
		t.Fatalf("BuildInventory: %v", err)
	}
	return inv
}

func TestInventory_BuildReadHas(t *testing.T) {
	fx := signedBundle(t)
	ctx := context.Background()
	src := openRO(t, fx.dir)
	b, err := bundle.Read(ctx, src, fx.index)
	if err != nil {
		t.Fatal(err)
	}
	inv := buildInventory(t, src)
	if len(inv.Bundles) != 1 || inv.Bundles[0] != (InventoryBundle{Tag: "v1", Digest: fx.index.Digest}) || len(inv.Items) != len(b.Entries) {
		t.Fatalf("inventory: bundles %v, %d items; want v1 → %s and %d items", inv.Bundles, len(inv.Items), fx.index.Digest, len(b.Entries))
	}
	for _, e := range b.Entries {
		r := Resource{Kind: ResourceKind(e.Kind), UUID: e.UUID, Hash: e.TreeHash}
		d, ok := inv.Has(r)
		if !ok || d.Digest != e.Manifest.Digest || d.Annotations[bundle.AnnotationTreeHash] != e.TreeHash.String() {
			t.Errorf("Has(%s) = %v, %v; want %s with its annotations", r, d.Digest, ok, e.Manifest.Digest)
		}
		if !inv.HasDigest(e.Manifest.Digest) || !inv.HasDigest(e.Whole.Digest) {
			t.Errorf("HasDigest of %s's manifest or tarball = false", e.Item)
		}
	}
	if _, ok := inv.Has(Resource{Kind: KindPackage, Hash: b.Entries[0].TreeHash}); ok {
		t.Errorf("Has(a package without uuid) = true")
	}
	if inv.HasDigest(digest.FromString("nothing")) {
		t.Errorf("HasDigest(unknown) = true")
	}

	// JSON round trip: the same bytes, the same answers.
	text := inventoryJSON(t, inv)
	back, err := ReadInventory(strings.NewReader(text))
	if err != nil {
		t.Fatalf("ReadInventory: %v", err)
	}
	if got := inventoryJSON(t, back); got != text {
		t.Errorf("round trip changed the inventory:\n%s\nwant\n%s", got, text)
	}
	for _, it := range inv.Items {
		if d, ok := back.Has(it.Resource()); !ok || d.Digest != inv.Items[indexOf(inv, it.Resource())].Manifest.Digest {
			t.Errorf("read back: Has(%s) = %v %v", it.Resource(), d.Digest, ok)
		}
	}
	var nilInv *Inventory
	if _, ok := nilInv.Has(inv.Items[0].Resource()); ok || nilInv.HasDigest(fx.index.Digest) {
		t.Errorf("a nil inventory has something")
	}
}

func indexOf(inv *Inventory, r Resource) int { return inv.byResource[r] }

// Two stores holding the same bundles, copied in opposite orders under
// opposite tags, give byte-identical inventories.
func TestInventory_Deterministic(t *testing.T) {
	fx := signedBundle(t)
	ctx := context.Background()
	w := testWorld(t)
	srcStatic, _ := staticSource(t, w)
	other := openLayout(t, t.TempDir())
	ms := manifestsOf(t, w)
	res, err := Push(ctx, srcStatic, other, PushRequest{Manifests: ms[1:2]}, PushOptions{Platforms: []julia.Platform{linux}, Tag: "v2", Created: created})
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, order := range [][]string{{"a", "b"}, {"b", "a"}} {
		d := openLayout(t, t.TempDir())
		for _, which := range order {
			var err error
			if which == "a" {
				_, err = Copy(ctx, openRO(t, fx.dir), d, fx.index, []string{"v1"}, CopyOptions{})
			} else {
				_, err = Copy(ctx, other, d, res.Index, []string{"v2"}, CopyOptions{})
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		texts = append(texts, inventoryJSON(t, buildInventory(t, d)))
	}
	if texts[0] != texts[1] {
		t.Errorf("inventories differ by copy order:\n%s\n---\n%s", texts[0], texts[1])
	}
	if !strings.Contains(texts[0], `"tag": "v1"`) || !strings.Contains(texts[0], `"tag": "v2"`) {
		t.Errorf("inventory lacks a bundle:\n%s", texts[0])
	}
}

func TestReadInventory_Errors(t *testing.T) {
	fx := signedBundle(t)
	good := inventoryJSON(t, buildInventory(t, openRO(t, fx.dir)))
	inv, _ := ReadInventory(strings.NewReader(good))
	it := inv.Items[0]
	for _, tc := range []struct {
		name, text, want string
	}{
		{"not JSON", "{", "inventory: decoding: unexpected EOF: invalid inventory"},
		{"unknown field", strings.Replace(good, `"schemaVersion": 1`, `"schemaVersion": 1, "extra": 1`, 1), `inventory: decoding: json: unknown field "extra": invalid inventory`},
		{"schema", strings.Replace(good, `"schemaVersion": 1`, `"schemaVersion": 2`, 1), "inventory: schemaVersion 2, want 1: invalid inventory"},
		{"trailing", good + "{}", "inventory: data after the JSON object: invalid inventory"},
		{"bad bundle digest", strings.Replace(good, `"digest": "`+fx.index.Digest.String()+`"`, `"digest": "sha256:zz"`, 1), `inventory: bundle 0 ("v1"): digest: invalid checksum digest length: invalid inventory`},
		{"identity mismatch", strings.Replace(good, `"treeHash": "`+it.TreeHash.String()+`"`, `"treeHash": "`+strings.Repeat("0", 40)+`"`, 1),
			"inventory: item 0 (" + string(it.Kind) + " " + it.Name + " " + strings.Repeat("0", 40) + "): manifest annotations name " + identityString(it) + ", not this item: invalid inventory"},
		{"bad kind", strings.Replace(good, `"kind": "`+string(it.Kind)+`"`, `"kind": "report"`, 1), `inventory: item 0 (report ` + it.Name + " " + it.TreeHash.String() + `): kind "report": invalid inventory`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadInventory(strings.NewReader(tc.text))
			if err == nil || err.Error() != tc.want || !errors.Is(err, ErrInventory) {
				t.Errorf("ReadInventory = %v\nwant %s", err, tc.want)
			}
		})
	}
}

// identityString is how bundle.Item names an inventory item's identity.
func identityString(it InventoryItem) string {
	id, _ := bundle.ParseIdentity(it.Manifest.Annotations)
	return id.String()
}

// TestDelta is the whole delta loop: the inside store's inventory, a push
// against it that writes only what is missing, verify --with, and a copy
// that makes the inside complete.
func TestDelta(t *testing.T) {
	ctx := context.Background()
	w := testWorld(t)
	src, _ := staticSource(t, w)
	ms := manifestsOf(t, w)
	signer, pub := newSigner(t)
	pol := policyOf(t, 1, pub)
	opts := PushOptions{Platforms: []julia.Platform{linux}, Created: created}

	insideDir := t.TempDir()
	inside := openLayout(t, insideDir)
	opts.Tag = "v1"
	if _, err := Push(ctx, src, inside, PushRequest{Manifests: ms[:1]}, opts); err != nil {
		t.Fatal(err)
	}
	inv, err := ReadInventory(strings.NewReader(inventoryJSON(t, buildInventory(t, inside))))
	if err != nil {
		t.Fatal(err)
	}

	// The delta: every manifest, written against the inventory.
	stickDir := t.TempDir()
	stick := openLayout(t, stickDir)
	opts.Tag, opts.Skip = "v2", inv.Has
	res, err := Push(ctx, src, stick, PushRequest{Manifests: ms}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res.Reused == 0 || res.Stored == 0 {
		t.Fatalf("delta push stored %d, reused %d; want both > 0", res.Stored, res.Reused)
	}
	if _, err := trust.Sign(ctx, stick, res.Index, signer, trust.SignOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := bundle.Read(ctx, stick, res.Index)
	if err != nil {
		t.Fatal(err)
	}
	skipped := 0
	for _, e := range b.Entries {
		inStick, _ := stick.Exists(ctx, e.Manifest)
		_, inInv := inv.Has(Resource{Kind: ResourceKind(e.Kind), UUID: e.UUID, Hash: e.TreeHash})
		if inInv {
			skipped++
		}
		if inStick == inInv {
			t.Errorf("%s: in the stick %v, in the inventory %v; want exactly one", e.Item, inStick, inInv)
		}
	}
	if skipped != len(inv.Items) {
		t.Errorf("the delta skipped %d items, want all %d of the inventory", skipped, len(inv.Items))
	}
	// Its provenance record says so: what the inventory holds is not
	// carried, the rest was fetched.
	inventoried := 0
	for _, it := range oneRecord(t, stick, res).Items {
		_, inInv := inv.Has(resourceOf(it))
		switch {
		case inInv && it.Method == bundle.MethodInventory && it.URL == "":
			inventoried++
		case !inInv && it.Method == bundle.MethodFetched && it.URL != "":
		default:
			t.Errorf("delta record: %s %s %s %q (in the inventory: %v)", it.Kind, it.Name, it.Method, it.URL, inInv)
		}
	}
	if inventoried != len(inv.Items) {
		t.Errorf("the delta record says %d items are inventoried, want %d", inventoried, len(inv.Items))
	}

	// Alone the delta is incomplete; with the inside store it verifies.
	if _, err := shelf.Verify(ctx, stick, res.Index, shelf.VerifyOptions{Policy: pol}); !errors.Is(err, bundle.ErrIntegrity) {
		t.Errorf("Verify(delta alone) = %v, want an integrity failure", err)
	}
	insideRO := inside // the writer sees its own content
	v, err := shelf.Verify(ctx, &shelf.Overlay{Primary: stick, Fallback: insideRO}, res.Index, shelf.VerifyOptions{Policy: pol, Deep: true})
	if err != nil {
		t.Fatalf("Verify(delta with the inside store) = %v", err)
	}
	if v.Check.Manifests != len(b.Entries)+1 || v.Closure == nil || len(v.Closure.Unlisted)+len(v.Closure.Unreferenced) != 0 {
		t.Errorf("Verify(delta with the inside store) = %+v", v)
	}

	// Copy the delta in: complete, verifying, signed.
	cres, err := Copy(ctx, stick, inside, res.Index, []string{"v2"}, CopyOptions{})
	if err != nil {
		t.Fatalf("Copy(delta): %v", err)
	}
	if cres.Skipped < len(inv.Items) {
		t.Errorf("Copy(delta) skipped %d nodes, want at least the %d inventoried items", cres.Skipped, len(inv.Items))
	}
	mustVerify2(t, inside, pol, "v2", res.Index)

	// The same inventory gives the same delta (idempotent).
	again := openLayout(t, t.TempDir())
	res2, err := Push(ctx, src, again, PushRequest{Manifests: ms}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if res2.Index.Digest != res.Index.Digest {
		t.Errorf("a second delta against the same inventory has digest %s, want %s", res2.Index.Digest, res.Index.Digest)
	}
}

func mustVerify2(t *testing.T, s shelf.Target, pol *trust.Policy, tag string, want ocispec.Descriptor) {
	t.Helper()
	d, err := s.Resolve(context.Background(), tag)
	if err != nil || d.Digest != want.Digest {
		t.Fatalf("resolving %s = %v, %v; want %s", tag, d.Digest, err, want.Digest)
	}
	if _, err := shelf.Verify(context.Background(), s, d, shelf.VerifyOptions{Policy: pol, Deep: true}); err != nil {
		t.Fatalf("Verify %s: %v", tag, err)
	}
}

func FuzzReadInventory(f *testing.F) {
	f.Add([]byte(`{"schemaVersion":1,"bundles":[],"items":[]}`))
	f.Add([]byte(`{"schemaVersion":1,"bundles":[{"tag":"v1","digest":"sha256:` + strings.Repeat("a", 64) + `"}],"items":[{"kind":"artifact","treeHash":"` +
		strings.Repeat("b", 40) + `","manifest":{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("c", 64) +
		`","size":10,"annotations":{"dev.shoebox.julia.kind":"artifact","dev.shoebox.julia.tree-hash":"` + strings.Repeat("b", 40) + `"}},"layers":["sha256:` +
		strings.Repeat("d", 64) + `"]}]}`))
	f.Add([]byte(`{"schemaVersion":1,"items":[{"kind":"package","uuid":"zz"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv, err := ReadInventory(bytes.NewReader(data))
		if err != nil {
			if !errors.Is(err, ErrInventory) {
				t.Fatalf("error not wrapping ErrInventory: %v", err)
			}
			return
		}
		// What was accepted writes and reads back to the same thing.
		var buf bytes.Buffer
		if _, err := inv.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		back, err := ReadInventory(&buf)
		if err != nil {
			t.Fatalf("re-reading an accepted inventory: %v", err)
		}
		for _, it := range inv.Items {
			if _, ok := back.Has(it.Resource()); !ok {
				t.Fatalf("re-read inventory lacks %s", it.Resource())
			}
		}
	})
}

// WriteTo streams the bytes json.MarshalIndent gives, empty or not.
func TestInventory_WriteToIsMarshalIndent(t *testing.T) {
	fx := signedBundle(t)
	full := buildInventory(t, openRO(t, fx.dir))
	empty := &Inventory{SchemaVersion: InventorySchemaVersion, Bundles: []InventoryBundle{}, Items: []InventoryItem{}}
	for _, inv := range []*Inventory{full, empty} {
		want, err := json.MarshalIndent(inv, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		n, err := inv.WriteTo(&b)
		if err != nil || n != int64(b.Len()) || b.String() != string(want)+"\n" {
			t.Errorf("WriteTo = %d bytes, %v; differs from MarshalIndent:\n%s\nwant\n%s", n, err, b.String(), want)
		}
	}
}
