package bundle

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ReportSchemaVersion is the schemaVersion of the report JSON this package
// writes and reads.
const ReportSchemaVersion = 1

// Report records what a push was asked for and what it could not provide
// (shoebox push --allow-missing). It is stored as the JSON layer (media
// type MediaTypeReport) of a report item; see FORMAT.md for the schema.
type Report struct {
	// SchemaVersion is ReportSchemaVersion; PushReport sets it.
	SchemaVersion int `json:"schemaVersion"`
	// Requests are what the push was asked for, in the caller's order.
	Requests []Request `json:"requests,omitempty"`
	// Platforms are the target platform triplets, sorted.
	Platforms []string `json:"platforms,omitempty"`
	// Missing are the things the push could not provide, sorted by kind,
	// name, uuid, version, tree hash and platform.
	Missing []Missing `json:"missing,omitempty"`
	// SourceFailures are read from bundles written by shoebox before
	// source failures moved to the provenance record (FORMAT.md §6, §10):
	// which mirror failed is not part of the request, and a bundle is a
	// pure function of its request. PushReport refuses to write them;
	// Provenance.SourceFailures holds them now.
	SourceFailures []SourceFailure `json:"sourceFailures,omitempty"`
}

// SourceFailure is one source's failure to give one item: a push's
// result, its provenance record (Provenance.SourceFailures), and the
// report of a bundle written before the record held them.
type SourceFailure struct {
	Kind Kind `json:"kind"`
	// Item names the item as the push reported it ("package
	// Example@0.5.3", "artifact OpenSSL", "registry <uuid>/<hash>").
	Item     string        `json:"item"`
	UUID     julia.UUID    `json:"uuid,omitzero"`
	TreeHash treehash.Hash `json:"treeHash,omitzero"`
	// Source is the source as the push was given it (a URL, a depot).
	Source string `json:"source"`
	// Reason says how it failed ("tree hash … : tree hash mismatch",
	// "… 503 Service Unavailable (gave up after 5 attempts in 3.2s)").
	Reason string `json:"reason"`
}

// SortSourceFailures sorts failures by kind, item, uuid, tree hash,
// source and reason: the order of a provenance record.
func SortSourceFailures(fs []SourceFailure) {
	slices.SortStableFunc(fs, func(a, b SourceFailure) int {
		return cmp.Or(
			cmp.Compare(a.Kind.order(), b.Kind.order()),
			strings.Compare(a.Item, b.Item),
			strings.Compare(a.UUID.String(), b.UUID.String()),
			strings.Compare(a.TreeHash.String(), b.TreeHash.String()),
			strings.Compare(a.Source, b.Source),
			strings.Compare(a.Reason, b.Reason),
		)
	})
}

// Request is one thing a push was asked for.
type Request struct {
	// Type is what Value names: "manifest" (a Manifest.toml path),
	// "project" (a Project.toml path), "package" (a package spec such as
	// "Example@0.5"), "registry" (a registry name or uuid) or "artifact".
	Type string `json:"type"`
	// Value is the path, spec or name as the user gave it.
	Value string `json:"value"`
}

// Missing is one thing a push could not provide.
type Missing struct {
	Kind     Kind          `json:"kind"`
	Name     string        `json:"name,omitempty"`
	UUID     julia.UUID    `json:"uuid,omitzero"`
	Version  string        `json:"version,omitempty"`
	TreeHash treehash.Hash `json:"treeHash,omitzero"`
	Platform string        `json:"platform,omitempty"`
	// RequiredBy names what needs it (packages, or inputs), sorted.
	RequiredBy []string `json:"requiredBy,omitempty"`
	// Reason says why it is missing ("404 from https://pkg.julialang.org",
	// "tree hash mismatch", …).
	Reason string `json:"reason"`
}

// canonical returns a sorted copy of r with SchemaVersion set.
func (r Report) canonical() Report {
	c := Report{SchemaVersion: ReportSchemaVersion, Requests: slices.Clone(r.Requests)}
	c.Platforms = slices.Clone(r.Platforms)
	slices.Sort(c.Platforms)
	c.Platforms = slices.Compact(c.Platforms)
	c.Missing = make([]Missing, len(r.Missing))
	for i, m := range r.Missing {
		m.RequiredBy = slices.Clone(m.RequiredBy)
		slices.Sort(m.RequiredBy)
		m.RequiredBy = slices.Compact(m.RequiredBy)
		c.Missing[i] = m
	}
	slices.SortStableFunc(c.Missing, func(a, b Missing) int {
		return cmp.Or(
			cmp.Compare(a.Kind.order(), b.Kind.order()),
			strings.Compare(a.Name, b.Name),
			strings.Compare(a.UUID.String(), b.UUID.String()),
			compareVersions(a.Version, b.Version),
			strings.Compare(a.TreeHash.String(), b.TreeHash.String()),
			strings.Compare(a.Platform, b.Platform),
			strings.Compare(a.Reason, b.Reason),
		)
	})
	if len(c.Missing) == 0 {
		c.Missing = nil
	}
	return c
}

// PushReport writes r as a report item (a manifest of artifactType
// ArtifactTypeReport with one JSON layer) and returns its descriptor for
// PushIndex, annotated with AnnotationKind "report" and AnnotationMissing.
// The JSON is canonical: the same report gives the same digest. A report
// with SourceFailures is refused (ErrFormat): they go in the provenance
// record.
func PushReport(ctx context.Context, dst Pusher, r Report) (ocispec.Descriptor, error) {
	c := r.canonical()
	for _, m := range c.Missing {
		if !m.Kind.Valid() || m.Kind == KindReport {
			return ocispec.Descriptor{}, formatErrorf("report: missing thing of kind %q", m.Kind)
		}
	}
	if len(r.SourceFailures) > 0 {
		// Which source failed depends on the mirror, not on the request:
		// in the bundle it would make the same request a different bundle.
		return ocispec.Descriptor{}, formatErrorf("report: source failures belong in the provenance record, not in the bundle (FORMAT.md §10)")
	}
	blob, err := json.Marshal(c)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("report: encoding: %w", err)
	}
	if len(blob) > MaxReportSize {
		return ocispec.Descriptor{}, formatErrorf("report is %d bytes, limit %d", len(blob), MaxReportSize)
	}
	layer := content.NewDescriptorFromBytes(MediaTypeReport, blob)
	if err := pushIfAbsent(ctx, dst, layer, blob); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("report: pushing blob: %w", err)
	}
	layer.Annotations = map[string]string{ocispec.AnnotationTitle: "report.json"}
	m := ocispec.Manifest{
		Versioned:    specs.Versioned{SchemaVersion: 2},
		MediaType:    ocispec.MediaTypeImageManifest,
		ArtifactType: ArtifactTypeReport,
		Config:       ocispec.DescriptorEmptyJSON,
		Layers:       []ocispec.Descriptor{layer},
		Annotations:  map[string]string{AnnotationKind: string(KindReport)},
	}
	b, err := json.Marshal(m)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("report: encoding manifest: %w", err)
	}
	desc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageManifest, b)
	desc.ArtifactType = ArtifactTypeReport
	if err := pushIfAbsent(ctx, dst, emptyConfig(), ocispec.DescriptorEmptyJSON.Data); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("report: pushing config: %w", err)
	}
	if err := pushIfAbsent(ctx, dst, desc, b); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("report: pushing manifest: %w", err)
	}
	desc.Annotations = map[string]string{
		AnnotationKind:    string(KindReport),
		AnnotationMissing: strconv.Itoa(len(c.Missing)),
	}
	return desc, nil
}

// readReport fetches and decodes the report of a report item manifest.
func readReport(ctx context.Context, src content.Fetcher, d ocispec.Descriptor) (*Report, error) {
	b, err := readBounded(ctx, src, d, MaxMetadataSize)
	if err != nil {
		return nil, fmt.Errorf("report manifest: %w", err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, formatErrorf("report manifest %s: %v", d.Digest, err)
	}
	if m.MediaType != ocispec.MediaTypeImageManifest || m.ArtifactType != ArtifactTypeReport || len(m.Layers) != 1 || m.Layers[0].MediaType != MediaTypeReport {
		return nil, formatErrorf("report manifest %s: want one %s layer", d.Digest, MediaTypeReport)
	}
	blob, err := readBounded(ctx, src, m.Layers[0], MaxReportSize)
	if err != nil {
		return nil, fmt.Errorf("report %s: %w", d.Digest, err)
	}
	var r Report
	if err := json.Unmarshal(blob, &r); err != nil {
		return nil, formatErrorf("report %s: %v", m.Layers[0].Digest, err)
	}
	if r.SchemaVersion != ReportSchemaVersion {
		return nil, formatErrorf("report %s: schemaVersion %d, want %d", m.Layers[0].Digest, r.SchemaVersion, ReportSchemaVersion)
	}
	return &r, nil
}
