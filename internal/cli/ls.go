package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
)

// LsOptions are the flags and arguments of shoebox ls.
type LsOptions struct {
	Store string
	Kind  string
	Name  string
	JSON  bool
	store storeFlags
}

func newLsCmd(f *Factory) *cobra.Command {
	opts := &LsOptions{}
	cmd := &cobra.Command{
		Use:   "ls [flags] STORE[:TAG]",
		Short: "List the bundles of a store, or the items of one bundle, by Julia identity",
		Long: `List what a store holds.

Without a tag, ls lists the store's bundles: tag, digest, creation time,
counts of registries, packages and artifacts, size, and missing items.
With a tag (or @digest), it lists the bundle's items by Julia identity:
kind, name, versions, uuid, tree hash, platform and size.`,
		Example: `  shoebox ls /media/usb/julia
  shoebox ls /media/usb/julia:2026-11 --kind artifact
  shoebox ls harbor.example.org/julia/bundles:2026-11 --json`,
		Args: exactArgs(1, "STORE[:TAG]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Store = args[0]
			return runLs(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Kind, "kind", "", "only items of this kind: registry, package or artifact")
	cmd.Flags().StringVar(&opts.Name, "name", "", "only items whose name contains this")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	opts.store.register(cmd.Flags())
	return cmd
}

type lsBundleJSON struct {
	Tag       string         `json:"tag"`
	Digest    string         `json:"digest"`
	Created   time.Time      `json:"created,omitzero"`
	Items     map[string]int `json:"items"`
	Bytes     int64          `json:"bytes"`
	Missing   int            `json:"missing"`
	Platforms []string       `json:"platforms"`
}

type lsItemJSON struct {
	Kind     string   `json:"kind"`
	Name     string   `json:"name,omitempty"`
	Versions []string `json:"versions,omitempty"`
	UUID     string   `json:"uuid,omitempty"`
	TreeHash string   `json:"treeHash"`
	Platform string   `json:"platform,omitempty"`
	Size     int64    `json:"size"`
	Manifest string   `json:"manifest"`
	Parts    int      `json:"parts"`
}

func runLs(ctx context.Context, f *Factory, o *LsOptions) error {
	switch o.Kind {
	case "", "registry", "package", "artifact":
	default:
		return usagef("--kind %q: want registry, package or artifact", o.Kind)
	}
	st, ref, err := o.store.open(ctx, f, o.Store, true)
	if err != nil {
		return err
	}
	defer st.Close()
	bs, err := readBundles(ctx, st, ref)
	if err != nil {
		return err
	}
	if ref.Tag == "" {
		var rows []lsBundleJSON
		for _, tb := range bs {
			k := countKinds(tb.Bundle)
			row := lsBundleJSON{Tag: tb.Tag, Digest: tb.Bundle.Index.Digest.String(), Created: tb.Bundle.Created,
				Items: map[string]int{}, Bytes: bundleSize(tb.Bundle), Platforms: bundlePlatforms(tb.Bundle)}
			for kind, n := range k {
				row.Items[string(kind)] = n
			}
			if tb.Bundle.Report != nil {
				row.Missing = len(tb.Bundle.Report.Missing)
			}
			rows = append(rows, row)
		}
		if o.JSON {
			if rows == nil {
				rows = []lsBundleJSON{}
			}
			writeJSON(f, rows)
			return nil
		}
		tw := tabwriter.NewWriter(f.Out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "TAG\tDIGEST\tCREATED\tREGISTRIES\tPACKAGES\tARTIFACTS\tSIZE\tMISSING")
		for _, r := range rows {
			created := "-"
			if !r.Created.IsZero() {
				created = r.Created.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%d\n", r.Tag, shortDigest(r.Digest), created,
				r.Items["registry"], r.Items["package"], r.Items["artifact"], humanBytes(r.Bytes), r.Missing)
		}
		return tw.Flush()
	}
	var items []lsItemJSON
	for _, e := range bs[0].Bundle.Entries {
		if o.Kind != "" && string(e.Kind) != o.Kind || o.Name != "" && !strings.Contains(e.Name, o.Name) {
			continue
		}
		items = append(items, lsItem(e))
	}
	if o.JSON {
		if items == nil {
			items = []lsItemJSON{}
		}
		writeJSON(f, items)
		return nil
	}
	tw := tabwriter.NewWriter(f.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tVERSIONS\tUUID\tTREE HASH\tPLATFORM\tSIZE")
	for _, it := range items {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", it.Kind, dash(it.Name), dash(strings.Join(it.Versions, ",")),
			dash(it.UUID), it.TreeHash, dash(it.Platform), humanBytes(it.Size))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

// lsItem is an item as ls --json (and inspect --json) show it.
func lsItem(e bundle.Entry) lsItemJSON {
	it := lsItemJSON{Kind: string(e.Kind), Name: e.Name, Versions: e.Versions, TreeHash: e.TreeHash.String(),
		Platform: e.Platform, Size: e.Whole.Size, Manifest: e.Manifest.Digest.String(), Parts: len(e.Layers)}
	if !e.UUID.IsZero() {
		it.UUID = e.UUID.String()
	}
	return it
}
