package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// InspectOptions are the flags and arguments of shoebox inspect.
type InspectOptions struct {
	Ref   string
	Item  string
	JSON  bool
	store storeFlags
}

func newInspectCmd(f *Factory) *cobra.Command {
	opts := &InspectOptions{}
	cmd := &cobra.Command{
		Use:   "inspect [flags] STORE:TAG",
		Short: "Show a bundle: what it was made from, its platforms, report and items",
		Long: `Show one bundle in detail: its digest, creation time, the shoebox version
that wrote it, the inputs (manifests, package specs) and target platforms,
the counts per kind, and the report of what was asked for and what is
missing, and its provenance records (where the pusher says it got each
item, and which sources failed to give one; unsigned). With --item NAME, show the matching items with their
manifests, layers (parts, for tarballs split for FAT32) and sources.`,
		Example: `  shoebox inspect /media/usb/julia:2026-11
  shoebox inspect /media/usb/julia:2026-11 --item Zlib_jll`,
		Args: exactArgs(1, "STORE:TAG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			return runInspect(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Item, "item", "", "show the items whose name contains this, with their layers")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	opts.store.register(cmd.Flags())
	return cmd
}

func runInspect(ctx context.Context, f *Factory, o *InspectOptions) error {
	st, ref, err := o.store.open(ctx, f, o.Ref, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if ref.Tag == "" {
		return usagef("inspect needs STORE:TAG or STORE@DIGEST (see shoebox ls %s)", o.Ref)
	}
	bs, err := readBundles(ctx, st, ref)
	if err != nil {
		return err
	}
	b := bs[0].Bundle
	recs, warnings, err := provenanceOf(ctx, st, b.Index)
	if err != nil {
		return err
	}
	warn(f, warnings...)
	if o.JSON {
		return writeInspectJSON(f, ref, b, o.Item, recs)
	}
	w := f.Out
	fmt.Fprintf(w, "bundle   %s\n", ref)
	fmt.Fprintf(w, "digest   %s (%d bytes)\n", b.Index.Digest, b.Index.Size)
	if !b.Created.IsZero() {
		fmt.Fprintf(w, "created  %s\n", b.Created.UTC().Format(time.RFC3339))
	}
	keys := make([]string, 0, len(b.Annotations))
	for k := range b.Annotations {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(w, "  %s = %s\n", k, b.Annotations[k])
	}
	k := countKinds(b)
	fmt.Fprintf(w, "items    %d registries, %d packages, %d artifacts, %s\n", k["registry"], k["package"], k["artifact"], humanBytes(bundleSize(b)))
	if r := b.Report; r != nil {
		for _, q := range r.Requests {
			fmt.Fprintf(w, "asked    %s %s\n", q.Type, q.Value)
		}
		if len(r.Platforms) > 0 {
			fmt.Fprintf(w, "for      %s\n", strings.Join(r.Platforms, ", "))
		}
		if len(r.Missing) == 0 {
			fmt.Fprintln(w, "missing  nothing")
		}
		for _, m := range r.Missing {
			fmt.Fprintf(w, "missing  %s %s %s %s: %s\n", m.Kind, m.Name, m.Version, m.TreeHash, m.Reason)
		}
	}
	for _, sf := range sourceFailures(b, recs) {
		fmt.Fprintf(w, "source   %s failed for %s %s: %s\n", sf.Source, sf.Item, sf.TreeHash, sf.Reason)
	}
	for _, p := range recs {
		fmt.Fprintf(w, "provenance %s (unsigned, the pusher's word): %s\n", p.Manifest.Digest, provenanceCounts(p))
	}
	if o.Item == "" {
		return nil
	}
	found := 0
	for _, e := range b.Entries {
		if !strings.Contains(e.Name, o.Item) {
			continue
		}
		found++
		fmt.Fprintf(w, "\n%s\n  manifest %s\n", e.Item, e.Manifest.Digest)
		fmt.Fprintf(w, "  tarball  %s %s (%s)\n", e.Whole.Digest, e.Whole.MediaType, humanBytes(e.Whole.Size))
		for _, s := range itemSources(recs, e) {
			fmt.Fprintf(w, "  source   %s\n", s)
		}
		if len(e.Layers) > 1 {
			for i, l := range e.Layers {
				fmt.Fprintf(w, "  part %d   %s (%s)\n", i, l.Digest, humanBytes(l.Size))
			}
		}
	}
	if found == 0 {
		return fmt.Errorf("%s: no item named like %q: %w", ref, o.Item, errNotFoundCLI)
	}
	return nil
}

// inspectJSON is what inspect --json prints (README: "JSON output").
type inspectJSON struct {
	Bundle      string            `json:"bundle"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Created     time.Time         `json:"created,omitzero"`
	Annotations map[string]string `json:"annotations"`
	Items       map[string]int    `json:"items"`
	Bytes       int64             `json:"bytes"`
	Platforms   []string          `json:"platforms"`
	Requests    []bundle.Request  `json:"requests"`
	Missing     []bundle.Missing  `json:"missing"`
	// SourceFailures are the sources the push passed over for an item:
	// from the provenance records (unsigned, the pusher's word), and from
	// the report of a bundle written before the records held them.
	SourceFailures []bundle.SourceFailure `json:"sourceFailures,omitempty"`
	// Provenance are the bundle's provenance records (unsigned).
	Provenance []provenanceJSON `json:"provenance,omitempty"`
	// Entries are the items matching --item, with their blobs.
	Entries []inspectItemJSON `json:"entries,omitempty"`
}

type inspectItemJSON struct {
	lsItemJSON
	Tarball blobJSON   `json:"tarball"`
	Layers  []blobJSON `json:"layers"`
	// Sources are where the provenance records say it came from.
	Sources []string `json:"sources,omitempty"`
}

// provenanceJSON is one provenance record in inspect --json.
type provenanceJSON struct {
	Digest string `json:"digest"`
	// Items counts the record's items by method (fetched, packed,
	// reused, inventory).
	Items map[bundle.Method]int `json:"items"`
}

// provenanceCounts says how many items a record gives each method.
func provenanceCounts(p *bundle.Provenance) string {
	c := p.Counts()
	var parts []string
	for _, m := range []bundle.Method{bundle.MethodFetched, bundle.MethodPacked, bundle.MethodReused, bundle.MethodInventory} {
		if c[m] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c[m], m))
		}
	}
	if len(parts) == 0 {
		return "no items"
	}
	return strings.Join(parts, ", ")
}

// sourceFailures are the sources the push of b passed over: those its
// report lists (bundles written before the provenance record held them,
// FORMAT.md §6), then each record's, in the records' order. They are
// printed, so they are made printable as a record keeps them.
func sourceFailures(b *bundle.Bundle, recs []*bundle.Provenance) []bundle.SourceFailure {
	var out []bundle.SourceFailure
	if b.Report != nil {
		for _, sf := range b.Report.SourceFailures {
			out = append(out, bundle.CleanSourceFailure(sf))
		}
	}
	for _, p := range recs {
		out = append(out, p.SourceFailures...)
	}
	return out
}

// itemSources lists what the records say of an item: "fetched URL",
// "reused", … with the record's digest.
func itemSources(recs []*bundle.Provenance, e bundle.Entry) []string {
	var out []string
	for _, p := range recs {
		for _, it := range p.Items {
			if it.Digest != e.Whole.Digest || it.Kind != e.Kind || it.TreeHash != e.TreeHash || it.Platform != e.Platform {
				continue
			}
			s := string(it.Method)
			if it.URL != "" {
				s += " " + it.URL
			}
			out = append(out, s+" (record "+p.Manifest.Digest.String()+")")
		}
	}
	return out
}

type blobJSON struct {
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType"`
	Size      int64  `json:"size"`
}

func writeInspectJSON(f *Factory, ref store.Reference, b *bundle.Bundle, item string, recs []*bundle.Provenance) error {
	j := inspectJSON{Bundle: ref.String(), Digest: b.Index.Digest.String(), Size: b.Index.Size, Created: b.Created,
		Annotations: b.Annotations, Items: map[string]int{"registry": 0, "package": 0, "artifact": 0}, Bytes: bundleSize(b),
		Platforms: bundlePlatforms(b), Requests: []bundle.Request{}, Missing: []bundle.Missing{}}
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	for k, n := range countKinds(b) {
		j.Items[string(k)] = n
	}
	if r := b.Report; r != nil {
		if r.Requests != nil {
			j.Requests = r.Requests
		}
		if r.Missing != nil {
			j.Missing = r.Missing
		}
	}
	j.SourceFailures = sourceFailures(b, recs)
	for _, p := range recs {
		j.Provenance = append(j.Provenance, provenanceJSON{Digest: p.Manifest.Digest.String(), Items: p.Counts()})
	}
	if item != "" {
		for _, e := range b.Entries {
			if !strings.Contains(e.Name, item) {
				continue
			}
			it := inspectItemJSON{lsItemJSON: lsItem(e), Tarball: blobJSON{e.Whole.Digest.String(), e.Whole.MediaType, e.Whole.Size},
				Sources: itemSources(recs, e)}
			for _, l := range e.Layers {
				it.Layers = append(it.Layers, blobJSON{l.Digest.String(), l.MediaType, l.Size})
			}
			j.Entries = append(j.Entries, it)
		}
		if len(j.Entries) == 0 {
			return fmt.Errorf("%s: no item named like %q: %w", ref, item, errNotFoundCLI)
		}
	}
	writeJSON(f, j)
	return nil
}
