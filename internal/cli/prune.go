package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/transfer"
)

// PruneOptions are the flags and arguments of shoebox prune.
type PruneOptions struct {
	Store    string
	KeepLast int
	Keep     []string
	DryRun   bool
	JSON     bool
	Quiet    bool
	store    storeFlags
}

const pruneLong = `Retire old bundles of a store and delete what no kept bundle needs.

The KEEP-LAST most recently created bundles (by the created time in their
index) are kept, and so is every bundle a --keep tag names; every other
bundle loses its tags, its signatures, attestations and referrers, and the
content that no kept bundle reaches is deleted. A delta bundle (pushed
against an inventory) borrows items from older bundles: those stay for as
long as a kept bundle reaches them. Tags that are not bundles are left
alone, with everything they reach. --dry-run shows the plan and changes
nothing.

In a layout, prune holds the layout's lock (as push does: --lock-wait),
rewrites index.json first, atomically, and then removes every blob file
that index.json no longer reaches. An interrupted prune leaves a valid
layout; the next prune removes what it left.

In a registry, manifests are deleted by digest (item manifests no kept
bundle reaches, the signatures, then the bundle index with its tags).
This needs deletes enabled (distribution: storage.delete.enabled; Harbor:
an account with the delete permission). Where the registry refuses to
delete manifests but deletes tags, the retired bundles are untagged. The
registry's own garbage collection reclaims the blobs (distribution:
"registry garbage-collect"; Harbor: its garbage collection job).

A running "shoebox serve" drops the retired bundles at its next reload and
keeps serving the kept ones.`

func newPruneCmd(f *Factory) *cobra.Command {
	opts := &PruneOptions{}
	cmd := &cobra.Command{
		Use:   "prune [flags] STORE --keep-last N",
		Short: "Retire old bundles with their signatures; delete what no kept bundle needs",
		Long:  pruneLong,
		Example: `  shoebox prune /media/usb/julia --keep-last 3 --dry-run
  shoebox prune /srv/julia --keep-last 12 --keep 2025-lts
  echo "$ROBOT_SECRET" | shoebox prune harbor.example.org/julia/bundles --keep-last 6 \
      --username 'robot$julia+pruner' --password-stdin`,
		Args: exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Store = args[0]
			if !cmd.Flags().Changed("keep-last") {
				return usagef("--keep-last is required (how many of the newest bundles to keep)")
			}
			return runPrune(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&opts.KeepLast, "keep-last", 0, "keep this many of the most recently created bundles (required)")
	fl.StringArrayVar(&opts.Keep, "keep", nil, "also keep the bundle of this tag (repeatable)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "show what would be retired and deleted; change nothing")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON summary on standard output")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing on success")
	opts.store.register(fl)
	return cmd
}

type pruneBundleJSON struct {
	Digest  string    `json:"digest"`
	Tags    []string  `json:"tags"`
	Created time.Time `json:"created,omitzero"`
}

type pruneJSON struct {
	Store      string            `json:"store"`
	DryRun     bool              `json:"dryRun"`
	Kept       []pruneBundleJSON `json:"kept"`
	Retired    []pruneBundleJSON `json:"retired"`
	Signatures int               `json:"signatures"`
	// layouts
	Entries      int   `json:"indexEntries,omitempty"`
	GarbageFiles int   `json:"garbageFiles,omitempty"`
	GarbageBytes int64 `json:"garbageBytes,omitempty"`
	// registries
	Deleted    int      `json:"deletedManifests,omitempty"`
	Shared     int      `json:"sharedManifests,omitempty"`
	Untagged   []string `json:"untagged,omitempty"`
	RegistryGC bool     `json:"registryGC,omitempty"`
}

func bundlesJSON(bs []transfer.PrunedBundle) []pruneBundleJSON {
	out := []pruneBundleJSON{}
	for _, b := range bs {
		out = append(out, pruneBundleJSON{Digest: b.Digest.String(), Tags: b.Tags, Created: b.Created})
	}
	return out
}

func runPrune(ctx context.Context, f *Factory, o *PruneOptions) error {
	if o.KeepLast < 0 {
		return usagef("--keep-last %d: must not be negative", o.KeepLast)
	}
	if o.KeepLast == 0 && len(o.Keep) == 0 {
		return usagef("--keep-last 0 without --keep would retire every bundle")
	}
	ref, err := store.ParseReference(o.Store)
	if err != nil {
		return usageError{err}
	}
	if ref.Tag != "" {
		return usagef("%s: prune works on a whole store; name the bundles to keep with --keep", o.Store)
	}
	if ref.Kind == store.Layout && !layoutExists(ref.Path) {
		return fmt.Errorf("layout %s: no OCI layout there: %w", ref.Path, errNotFoundCLI)
	}
	// Writable (the layout's lock, as push takes it; read-only for a dry
	// run), without walking the manifest graph at open: prune reads
	// index.json and walks only what it needs.
	o.store.lazyGraph = true
	st, ref, err := o.store.open(ctx, f, o.Store, o.DryRun)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := transfer.Prune(ctx, st, transfer.PruneOptions{KeepLast: o.KeepLast, Keep: o.Keep, DryRun: o.DryRun, Logger: f.Log})
	if err != nil {
		return err
	}
	if err := st.Close(); err != nil {
		return err
	}
	out := pruneJSON{Store: ref.Location(), DryRun: o.DryRun, Kept: bundlesJSON(res.Kept), Retired: bundlesJSON(res.Retired),
		Signatures: res.Signatures, Entries: res.Entries, Deleted: res.Deleted, Shared: res.Shared, Untagged: res.Untagged,
		RegistryGC: ref.Kind == store.Remote}
	if g := res.Garbage; g != nil {
		out.GarbageFiles, out.GarbageBytes = g.Manifests+g.Blobs, g.Bytes
	}
	if o.JSON {
		writeJSON(f, out)
		return nil
	}
	if o.Quiet {
		return nil
	}
	would := func(done, planned string) string {
		if o.DryRun {
			return planned
		}
		return done
	}
	tagsOf := func(bs []transfer.PrunedBundle) string {
		var s []string
		for _, b := range bs {
			s = append(s, strings.Join(b.Tags, ","))
		}
		return joinOr(s, "none")
	}
	fmt.Fprintf(f.Err, "%s: keeping %d bundles (%s); %s %d (%s) with %d signature, attestation and referrer manifests\n",
		ref.Location(), len(res.Kept), tagsOf(res.Kept), would("retired", "would retire"), len(res.Retired), tagsOf(res.Retired), res.Signatures)
	switch {
	case ref.Kind == store.Layout:
		g := res.Garbage
		fmt.Fprintf(f.Err, "%s %d index.json entries and %d files nothing reaches (%d manifests, %d blobs): %s\n",
			would("removed", "would remove"), res.Entries, g.Manifests+g.Blobs, g.Manifests, g.Blobs, humanBytes(g.Bytes))
	case len(res.Untagged) > 0:
		fmt.Fprintf(f.Err, "the registry refuses to delete manifests: removed %d tags (%s); the registry's garbage collection reclaims what nothing else tags\n",
			len(res.Untagged), strings.Join(res.Untagged, ", "))
	default:
		fmt.Fprintf(f.Err, "%s %d manifests (retired bundles, their items no kept bundle reaches, their signatures); %d items shared with kept bundles stay; the registry's garbage collection reclaims the blobs\n",
			would("deleted", "would delete"), res.Deleted, res.Shared)
	}
	return nil
}
