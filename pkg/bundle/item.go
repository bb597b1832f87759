package bundle

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/internal/ocigraph"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// Item is one content item: a registry snapshot, a package tree or an
// artifact tree, stored as one tarball (or its parts).
//
// Which fields a kind requires:
//   - KindRegistry: UUID, TreeHash (keep-empty), Registry (the name; taken
//     from Name when empty); Name empty or equal to Registry; no Versions,
//     Platform or KeepEmptyHash.
//   - KindPackage: UUID, TreeHash (skip-empty), Name; optional Versions,
//     KeepEmptyHash, Registry; no Platform.
//   - KindArtifact: TreeHash (skip-empty); optional Name, Platform,
//     KeepEmptyHash; no UUID, Versions or Registry.
//
// Report items are written by PushReport, not PushItem.
type Item struct {
	Kind Kind
	// UUID is the package or registry uuid.
	UUID julia.UUID
	// TreeHash is the hash Pkg checks and asks by (see AnnotationTreeHash).
	TreeHash treehash.Hash
	// KeepEmptyHash is the keep-empty hash of a package or artifact tar
	// stream when it differs from TreeHash; zero otherwise.
	KeepEmptyHash treehash.Hash
	// Name is the package or artifact name; for registries, the registry
	// name (Read sets it equal to Registry).
	Name string
	// Versions are the package versions sharing this tree. PushItem writes
	// them sorted by version precedence, without duplicates.
	Versions []string
	// Platform is an artifact's Julia triplet, "" if platform-independent.
	Platform string
	// Registry is the registry name (see AnnotationRegistry).
	Registry string
	// Layers is the tarball as one layer (media type MediaTypeTarGzip or
	// MediaTypeTarZstd), or its parts in order (media type MediaTypePart).
	// Only MediaType, Digest and Size are used; PushItem sets the
	// org.opencontainers.image.title annotation itself.
	Layers []ocispec.Descriptor
	// Whole is the whole tarball (MediaType, Digest, Size). For a single
	// layer it may be left zero and is then taken from Layers[0].
	Whole ocispec.Descriptor
	// ArtifactsTOML, for a package, maps the path in the tarball of every
	// regular file named Artifacts.toml or JuliaArtifacts.toml (at any
	// depth, see IsArtifactsTOML) to its content; an empty map says there
	// are none, nil that they are not recorded. It goes into the item
	// manifest (AnnotationArtifactsTOML), not the index descriptor, so Read
	// leaves it nil for unsplit items and ReadItem fills it. PushItem does
	// not record it when its JSON would exceed MaxArtifactsTOML bytes or a
	// file is not UTF-8.
	ArtifactsTOML map[string]string
}

// MaxArtifactsTOML bounds the AnnotationArtifactsTOML value PushItem
// writes; a package with more is left unrecorded.
const MaxArtifactsTOML = 256 << 10

// IsArtifactsTOML reports whether a normalized tar path names an
// Artifacts.toml or JuliaArtifacts.toml file, at any depth (Pkg's select
// hooks may choose among several; pkg-protocol.md §8.3).
func IsArtifactsTOML(p string) bool {
	b := p[strings.LastIndexByte(p, '/')+1:]
	return b == "Artifacts.toml" || b == "JuliaArtifacts.toml"
}

// encodeArtifactsTOML is the canonical AnnotationArtifactsTOML value of m
// (encoding/json: sorted keys), or "" when m cannot be recorded.
func encodeArtifactsTOML(m map[string]string) string {
	for p, c := range m {
		if p == "" || !IsArtifactsTOML(p) || !utf8.ValidString(p) || !utf8.ValidString(c) {
			return ""
		}
	}
	if m == nil {
		m = map[string]string{}
	}
	b, err := json.Marshal(m)
	if err != nil || len(b) > MaxArtifactsTOML {
		return ""
	}
	return string(b)
}

// parseArtifactsTOMLFrom reads AnnotationArtifactsTOML strictly from an
// item manifest's annotations: nil when absent, an error when not the
// canonical encoding of such a map.
func parseArtifactsTOMLFrom(a func(key string) (string, bool)) (map[string]string, error) {
	if v, ok := a(AnnotationArtifactsTOML); ok && v == "{}" {
		return map[string]string{}, nil // most packages: none
	}
	v, ok := a(AnnotationArtifactsTOML)
	if !ok {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(v), &m); err != nil || m == nil {
		return nil, formatErrorf("%s: not a JSON object of strings", AnnotationArtifactsTOML)
	}
	if encodeArtifactsTOML(m) != v {
		return nil, formatErrorf("%s: not canonical (sorted keys, Artifacts.toml paths, at most %d bytes)", AnnotationArtifactsTOML, MaxArtifactsTOML)
	}
	return m, nil
}

// String names the item for messages and logs, e.g.
// "package Example 0.5.3 7876af07…/46f5a1b2…". It never fails.
func (it Item) String() string {
	var b strings.Builder
	b.WriteString(string(it.Kind))
	name := it.Name
	if it.Kind == KindRegistry && name == "" {
		name = it.Registry
	}
	if name != "" {
		b.WriteString(" " + name)
	}
	if len(it.Versions) > 0 {
		b.WriteString(" " + strings.Join(it.Versions, ","))
	}
	if !it.UUID.IsZero() {
		b.WriteString(" " + it.UUID.String())
	}
	if !it.TreeHash.IsZero() {
		b.WriteString(" " + it.TreeHash.String())
	}
	if it.Platform != "" {
		b.WriteString(" " + it.Platform)
	}
	return b.String()
}

// Pusher is where PushItem, PushReport and PushIndex write: any
// content.Storage (an oras memory store, OCI layout or remote repository)
// satisfies it.
type Pusher interface {
	content.Pusher
	Exists(ctx context.Context, target ocispec.Descriptor) (bool, error)
}

// normalize returns a canonical copy of it (sorted versions, Whole filled
// in, layers stripped to mediaType/digest/size) or an error naming what is
// wrong.
func (it Item) normalize() (Item, error) {
	n := it
	n.Versions = slices.Clone(it.Versions)
	sortVersions(n.Versions)
	n.Versions = slices.Compact(n.Versions)
	if len(n.Versions) == 0 {
		n.Versions = nil
	}
	if n.Kind == KindRegistry && n.Registry == "" {
		n.Registry = n.Name
	}
	if n.Kind == KindRegistry && n.Name == n.Registry {
		n.Name = ""
	}
	if n.KeepEmptyHash == n.TreeHash {
		n.KeepEmptyHash = treehash.Hash{}
	}
	if n.ArtifactsTOML != nil && (n.Kind != KindPackage || encodeArtifactsTOML(n.ArtifactsTOML) == "") {
		n.ArtifactsTOML = nil // only packages record them, and only within bounds
	}
	if err := n.checkIdentity(); err != nil {
		return Item{}, err
	}
	if len(n.Layers) == 0 {
		return Item{}, formatErrorf("%s: no layers", n)
	}
	layers := make([]ocispec.Descriptor, len(n.Layers))
	for i, l := range n.Layers {
		layers[i] = ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Digest, Size: l.Size}
		if err := checkBlobDescriptor(layers[i]); err != nil {
			return Item{}, formatErrorf("%s: layer %d: %v", n, i, err)
		}
	}
	n.Layers = layers
	whole := ocispec.Descriptor{MediaType: n.Whole.MediaType, Digest: n.Whole.Digest, Size: n.Whole.Size}
	if len(layers) == 1 {
		if whole.Digest == "" && whole.Size == 0 && whole.MediaType == "" {
			whole = layers[0]
		}
		if !sameBlob(whole, layers[0]) {
			return Item{}, formatErrorf("%s: Whole %s differs from the single layer %s", n, whole.Digest, layers[0].Digest)
		}
		if !isTarballType(whole.MediaType) {
			return Item{}, formatErrorf("%s: layer media type %q: want %s or %s", n, whole.MediaType, MediaTypeTarGzip, MediaTypeTarZstd)
		}
	} else {
		if err := checkBlobDescriptor(whole); err != nil {
			return Item{}, formatErrorf("%s: whole: %v", n, err)
		}
		if !isTarballType(whole.MediaType) {
			return Item{}, formatErrorf("%s: whole media type %q: want %s or %s", n, whole.MediaType, MediaTypeTarGzip, MediaTypeTarZstd)
		}
		var sum int64
		for i, l := range layers {
			if l.MediaType != MediaTypePart {
				return Item{}, formatErrorf("%s: part %d media type %q: want %s", n, i, l.MediaType, MediaTypePart)
			}
			if l.Size == 0 {
				return Item{}, formatErrorf("%s: part %d is empty", n, i)
			}
			sum += l.Size
		}
		if sum != whole.Size {
			return Item{}, formatErrorf("%s: parts add up to %d bytes, whole is %d", n, sum, whole.Size)
		}
	}
	n.Whole = whole
	return n, nil
}

func isTarballType(mt string) bool { return mt == MediaTypeTarGzip || mt == MediaTypeTarZstd }

func checkBlobDescriptor(d ocispec.Descriptor) error {
	if err := ocigraph.ValidateDigest(d.Digest); err != nil {
		return fmt.Errorf("digest %q: %v", d.Digest, err)
	}
	if d.Size < 0 {
		return fmt.Errorf("negative size %d", d.Size)
	}
	if d.MediaType == "" {
		return errors.New("no media type")
	}
	return nil
}

// checkIdentity checks the identity fields of a normalized item.
func (it Item) checkIdentity() error {
	bad := func(format string, a ...any) error {
		return formatErrorf("%s: %s", it, fmt.Sprintf(format, a...))
	}
	switch it.Kind {
	case KindRegistry:
		if it.UUID.IsZero() || it.TreeHash.IsZero() || it.Registry == "" {
			return bad("a registry needs UUID, TreeHash and Registry")
		}
		if it.Name != "" {
			return bad("registry Name %q differs from Registry %q", it.Name, it.Registry)
		}
		if len(it.Versions) > 0 || it.Platform != "" || !it.KeepEmptyHash.IsZero() {
			return bad("a registry has no Versions, Platform or KeepEmptyHash")
		}
	case KindPackage:
		if it.UUID.IsZero() || it.TreeHash.IsZero() || it.Name == "" {
			return bad("a package needs UUID, TreeHash and Name")
		}
		if it.Platform != "" {
			return bad("a package has no Platform")
		}
	case KindArtifact:
		if it.TreeHash.IsZero() {
			return bad("an artifact needs TreeHash")
		}
		if !it.UUID.IsZero() || len(it.Versions) > 0 || it.Registry != "" {
			return bad("an artifact has no UUID, Versions or Registry")
		}
	case KindAdvisories:
		if it.TreeHash.IsZero() {
			return bad("an advisories snapshot needs TreeHash")
		}
		if !it.UUID.IsZero() || len(it.Versions) > 0 || it.Registry != "" || it.Platform != "" || it.Name != "" {
			return bad("an advisories snapshot has no UUID, Versions, Registry, Platform or Name")
		}
	case KindReport:
		return bad("report items are written by PushReport")
	default:
		return bad("unknown kind %q", it.Kind)
	}
	for _, s := range []string{it.Name, it.Registry} {
		if s != "" {
			if err := checkName(s); err != nil {
				return bad("%v", err)
			}
		}
	}
	for _, v := range it.Versions {
		if !validVersion(v) {
			return bad("version %q is not a version number", v)
		}
	}
	if it.Platform != "" && !validToken(it.Platform) {
		return bad("platform %q is not a triplet", it.Platform)
	}
	return nil
}

// checkName accepts UTF-8 names of 1 to 256 bytes without control
// characters, slashes or backslashes.
func checkName(s string) error {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) {
		return fmt.Errorf("name %q: want 1 to 256 bytes of UTF-8", s)
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '/' || r == '\\' || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("name %q: control character, slash or backslash", s)
		}
	}
	return nil
}

// validToken accepts 1 to 256 bytes of [A-Za-z0-9._+-] (triplets).
func validToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '+' || c == '-') {
			return false
		}
	}
	return true
}

// validVersion accepts major.minor.patch with an optional -prerelease and an
// optional build part ("+" then [0-9A-Za-z.-]), Julia's VersionNumber as registries
// write it.
func validVersion(s string) bool {
	if len(s) > 128 {
		return false
	}
	s, build, hasBuild := strings.Cut(s, "+")
	if hasBuild && !validIdents(build) {
		return false
	}
	core, pre, hasPre := strings.Cut(s, "-")
	if hasPre && !validIdents(pre) {
		return false
	}
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return false
	}
	for _, p := range parts {
		if !isDecimal(p) {
			return false
		}
	}
	return true
}

func validIdents(s string) bool {
	if s == "" {
		return false
	}
	for _, id := range strings.Split(s, ".") {
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			c := id[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// isDecimal reports whether s is a canonical non-negative decimal: digits,
// no sign, no leading zero unless it is "0".
func isDecimal(s string) bool {
	if s == "" || len(s) > 18 || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// identityAnnotations are the Julia identity of a normalized item.
func (it Item) identityAnnotations() map[string]string {
	a := map[string]string{AnnotationKind: string(it.Kind)}
	if !it.UUID.IsZero() {
		a[AnnotationUUID] = it.UUID.String()
	}
	if !it.TreeHash.IsZero() {
		a[AnnotationTreeHash] = it.TreeHash.String()
	}
	if !it.KeepEmptyHash.IsZero() {
		a[AnnotationKeepEmptyHash] = it.KeepEmptyHash.String()
	}
	if it.Name != "" {
		a[AnnotationName] = it.Name
	}
	if len(it.Versions) > 0 {
		a[AnnotationVersions] = strings.Join(it.Versions, ",")
	}
	if it.Platform != "" {
		a[AnnotationPlatform] = it.Platform
	}
	if it.Registry != "" {
		a[AnnotationRegistry] = it.Registry
	}
	return a
}

func wholeAnnotations(a map[string]string, whole ocispec.Descriptor) {
	a[AnnotationWholeDigest] = whole.Digest.String()
	a[AnnotationWholeSize] = strconv.FormatInt(whole.Size, 10)
	a[AnnotationWholeMediaType] = whole.MediaType
}

// Title is the file name oras pull gives the tarball of a normalized item
// (the org.opencontainers.image.title of its layer): "Example-0.5.3.tar.gz"
// for a package (lowest version; the tree hash when there is none),
// "General-<hash>.tar.gz" for a registry, "<name>-<platform>-<hash>.tar.gz"
// for an artifact. Parts get ".000", ".001", … appended.
func (it Item) title() string {
	var parts []string
	switch it.Kind {
	case KindPackage:
		parts = append(parts, it.Name)
		if len(it.Versions) > 0 {
			parts = append(parts, it.Versions[0])
		} else {
			parts = append(parts, it.TreeHash.String())
		}
	case KindRegistry:
		parts = append(parts, it.Registry, it.TreeHash.String())
	case KindAdvisories:
		parts = append(parts, "advisories", it.TreeHash.String())
	default:
		if it.Name != "" {
			parts = append(parts, it.Name)
		}
		if it.Platform != "" {
			parts = append(parts, it.Platform)
		}
		parts = append(parts, it.TreeHash.String())
	}
	ext := ".tar.gz"
	if it.Whole.MediaType == MediaTypeTarZstd {
		ext = ".tar.zst"
	}
	return sanitizeFileName(strings.Join(parts, "-")) + ext
}

// sanitizeFileName keeps [A-Za-z0-9._+-] and the non-ASCII letters of
// Julia names, replacing anything else with "_".
func sanitizeFileName(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r < 0x80 && validToken(string(r)):
			b.WriteRune(r)
		case r >= 0xa0 && r != utf8.RuneError:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return strings.TrimLeft(b.String(), ".")
}

// manifest returns the canonical manifest of a normalized item.
func (it Item) manifest() ocispec.Manifest {
	title := it.title()
	layers := make([]ocispec.Descriptor, len(it.Layers))
	for i, l := range it.Layers {
		t := title
		if len(it.Layers) > 1 {
			t = fmt.Sprintf("%s.%03d", title, i)
		}
		l.Annotations = map[string]string{ocispec.AnnotationTitle: t}
		layers[i] = l
	}
	ann := it.identityAnnotations()
	if len(it.Layers) > 1 {
		wholeAnnotations(ann, it.Whole)
	}
	if it.ArtifactsTOML != nil {
		ann[AnnotationArtifactsTOML] = encodeArtifactsTOML(it.ArtifactsTOML)
	}
	return ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: it.Kind.ArtifactType(),
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       layers,
		Annotations:  ann,
	}
}

// descriptorAnnotations are the annotations of a normalized item's
// descriptor in a bundle index: the identity, the whole tarball, and the
// number of parts when split.
func (it Item) descriptorAnnotations() map[string]string {
	a := it.identityAnnotations()
	wholeAnnotations(a, it.Whole)
	if len(it.Layers) > 1 {
		a[AnnotationParts] = strconv.Itoa(len(it.Layers))
	}
	return a
}

// Manifest returns the canonical manifest bytes of it and the descriptor
// PushItem would return, without writing anything. The bytes are a pure
// function of the item: no timestamps, sorted annotations.
func Manifest(it Item) ([]byte, ocispec.Descriptor, error) {
	n, err := it.normalize()
	if err != nil {
		return nil, ocispec.Descriptor{}, err
	}
	b, err := json.Marshal(n.manifest())
	if err != nil {
		return nil, ocispec.Descriptor{}, fmt.Errorf("%s: encoding manifest: %w", n, err)
	}
	if len(b) > MaxMetadataSize {
		return nil, ocispec.Descriptor{}, formatErrorf("%s: manifest is %d bytes, limit %d", n, len(b), MaxMetadataSize)
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	desc.ArtifactType = n.Kind.ArtifactType()
	desc.Annotations = n.descriptorAnnotations()
	return b, desc, nil
}

// PushItem writes the manifest of it (and the empty config blob) to dst and
// returns the manifest's descriptor, annotated with the item's identity and
// whole tarball (see FORMAT.md), ready for PushIndex.
//
// The layer blobs must already be in dst; a missing one is an error
// wrapping errdef.ErrNotFound. Nothing is written that dst already holds,
// so pushing the same item twice writes nothing the second time and gives
// the same descriptor.
func PushItem(ctx context.Context, dst Pusher, it Item) (ocispec.Descriptor, error) {
	b, desc, err := Manifest(it)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	for i, l := range it.Layers {
		ok, err := dst.Exists(ctx, l)
		if err != nil {
			return ocispec.Descriptor{}, fmt.Errorf("%s: layer %d %s: %w", it, i, l.Digest, err)
		}
		if !ok {
			return ocispec.Descriptor{}, fmt.Errorf("%s: layer %d %s: %w", it, i, l.Digest, errdef.ErrNotFound)
		}
	}
	if err := pushIfAbsent(ctx, dst, emptyConfig(), ocispec.DescriptorEmptyJSON.Data); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: pushing config: %w", it, err)
	}
	if err := pushIfAbsent(ctx, dst, desc, b); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("%s: pushing manifest: %w", it, err)
	}
	return desc, nil
}

func emptyConfig() ocispec.Descriptor {
	return ocispec.Descriptor{
		MediaType: ocispec.DescriptorEmptyJSON.MediaType,
		Digest:    ocispec.DescriptorEmptyJSON.Digest,
		Size:      ocispec.DescriptorEmptyJSON.Size,
	}
}

// pushIfAbsent pushes b as desc unless dst already has it.
func pushIfAbsent(ctx context.Context, dst Pusher, desc ocispec.Descriptor, b []byte) error {
	plain := ocispec.Descriptor{MediaType: desc.MediaType, Digest: desc.Digest, Size: desc.Size, ArtifactType: desc.ArtifactType}
	ok, err := dst.Exists(ctx, plain)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	err = dst.Push(ctx, plain, bytes.NewReader(b))
	if errors.Is(err, errdef.ErrAlreadyExists) {
		return nil
	}
	return err
}

// sortVersions sorts version strings by precedence (numeric
// major.minor.patch, then a pre-release before its release), breaking ties
// by byte order so the result is total and deterministic.
func sortVersions(vs []string) {
	slices.SortFunc(vs, compareVersions)
}

func compareVersions(a, b string) int {
	if c := compareVersionCore(a, b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

func compareVersionCore(a, b string) int {
	sa, sb := splitVersion(a), splitVersion(b)
	for i := 0; i < 3; i++ {
		if c := compareNumeric(sa.core[i], sb.core[i]); c != 0 {
			return c
		}
	}
	switch {
	case sa.pre == "" && sb.pre != "":
		return 1
	case sa.pre != "" && sb.pre == "":
		return -1
	}
	ia, ib := strings.Split(sa.pre, "."), strings.Split(sb.pre, ".")
	for i := 0; i < len(ia) && i < len(ib); i++ {
		na, nb := isDigits(ia[i]), isDigits(ib[i])
		var c int
		switch {
		case na && nb:
			c = compareNumeric(ia[i], ib[i])
		case na:
			c = -1
		case nb:
			c = 1
		default:
			c = strings.Compare(ia[i], ib[i])
		}
		if c != 0 {
			return c
		}
	}
	return len(ia) - len(ib)
}

type splitV struct {
	core [3]string
	pre  string
}

func splitVersion(s string) splitV {
	var v splitV
	s, _, _ = strings.Cut(s, "+")
	core, pre, _ := strings.Cut(s, "-")
	v.pre = pre
	for i, p := range strings.SplitN(core, ".", 3) {
		v.core[i] = p
	}
	return v
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// compareNumeric compares decimal strings by value (non-digits sort by bytes).
func compareNumeric(a, b string) int {
	if !isDigits(a) || !isDigits(b) {
		return strings.Compare(a, b)
	}
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return len(a) - len(b)
	}
	return strings.Compare(a, b)
}

// readBounded reads a blob of at most limit bytes and verifies its size and
// digest; desc.Size is never trusted for allocation.
func readBounded(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, limit int64) ([]byte, error) {
	if desc.Size < 0 || desc.Size > limit {
		return nil, formatErrorf("%s: size %d outside [0, %d]", desc.Digest, desc.Size, limit)
	}
	if err := ocigraph.ValidateDigest(desc.Digest); err != nil {
		return nil, formatErrorf("digest %q: %v", desc.Digest, err)
	}
	rc, err := src.Fetch(ctx, desc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", desc.Digest, err)
	}
	defer rc.Close()
	b, err := ocigraph.ReadAll(io.LimitReader(rc, limit+1), desc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %w", desc.Digest, ErrIntegrity, err)
	}
	return b, nil
}

// sameBlob compares media type, digest and size.
func sameBlob(a, b ocispec.Descriptor) bool {
	return a.MediaType == b.MediaType && a.Digest == b.Digest && a.Size == b.Size
}
