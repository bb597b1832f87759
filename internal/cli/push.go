package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/transfer"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// defaultPlatform is carried when no --platform is given.
const defaultPlatform = "x86_64-linux-gnu"

// defaultUpstream is the public Pkg server.
const defaultUpstream = "https://pkg.julialang.org"

// PushOptions are the flags and arguments of shoebox push.
type PushOptions struct {
	Dest         string
	Manifests    []string
	Packages     []string
	All          bool
	Versions     string
	JuliaVersion string
	Registries   []string
	From         []string
	Platforms    []string
	AllPlatforms bool
	IncludeLazy  bool
	Downloads    bool
	AllowMissing bool
	KeepPartial  bool
	NoProvenance bool
	DryRun       bool
	Concurrency  int
	MaxFileSize  string
	TmpDir       string
	Tag          string
	Created      string
	Inventory    string
	Advisories   string
	FailOn       string
	Quiet        bool
	JSON         bool
	store        storeFlags
}

const pushLong = `Collect what the inside needs and write it as one bundle.

push reads the Manifest.toml files (or project directories) and package
lists you give it, works out the closure — the registry snapshots, every
package version, and every artifact their Artifacts.toml files list for the
target platforms — fetches it from the sources, and writes it as a bundle of
OCI artifacts into DEST: an OCI layout directory (a USB stick: the default
when DEST is a path) or a registry repository.

Every tarball is checked while it streams into the store (Tar.jl's rules,
the tree hash Pkg will check); nothing unverified is ever written. Items
DEST already holds are not fetched again, so a re-run after an interruption
(Ctrl-C, a kill, a pulled stick) finishes the job and a re-push of the same
bundle writes no blob. A re-run of the same push whose sources still list the
same registry snapshots finds the tagged bundle up to date (its push key,
and every blob present) and keeps it as it is, so its signatures stay
valid. A push that fails instead (a missing item, a tarball that does not
verify, a source that fails) leaves a layout DEST as it was, removing what
it had stored (a new layout entirely); --keep-partial keeps that for a
re-run.

Sources (--from, tried in order for each item; default ` + defaultUpstream + `):
  https://host[/prefix]   a Pkg server (or file:///dir, a static mirror)
  DIR with Registry.toml  a registry checkout
  DIR                     a Julia depot (~/.julia)
A source that lacks an item, fails after its retries, sends nothing for
--stall-timeout, or gives a tarball that fails verification is passed over
for the next; each such failure is reported (progress, --json, and the
provenance record).

Beside the bundle, never in it, push writes a provenance record (an OCI
referrer of the bundle index; unsigned, the pusher's word): where it got
each item, and which sources failed to give one. shoebox inspect and sbom
show it; signed evidence is shoebox attest. The bundle stays a pure
function of the request: the same request served by another mirror, or
after a source failed, is the same bundle with the same signatures.
--no-provenance writes no record: the sources and their failures are then
in this command's output only (progress, --json), never on DEST.

A new layout is made only in an existing directory (a missing /media/usb
asks whether the stick is mounted). Before writing, the plan is checked
against the stick's free space and, on FAT32, its limit of 10,922 blob
files in blobs/sha256 (exFAT has none); on FAT32, tarballs over 4 GiB - 1
are split into parts automatically.

DEST is oci-layout:PATH[:TAG], a plain PATH[:TAG], or REGISTRY/REPO[:TAG].`

const pushExample = `  # everything two projects need, for Linux x86_64 and aarch64, onto a stick
  shoebox push --manifest projA/Manifest.toml --manifest projB \
      --platform x86_64-linux-gnu --platform aarch64-linux-gnu /media/usb/julia:2026-11

  # a package with its dependencies, the newest 2 versions of the root
  shoebox push --package DataFrames --versions latest:2 ./stick:dataframes

  # what would be carried, and how much room it needs
  shoebox push --manifest Manifest.toml --dry-run ./stick`

func newPushCmd(f *Factory) *cobra.Command {
	opts := &PushOptions{}
	cmd := &cobra.Command{
		Use:     "push [flags] DEST",
		Short:   "Collect a Julia closure and write it as a deduplicated OCI bundle",
		Long:    pushLong,
		Example: pushExample,
		Args:    exactArgs(1, "DEST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dest = args[0]
			return runPush(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVarP(&opts.Manifests, "manifest", "m", nil, "a Manifest.toml or a project directory to carry (repeatable)")
	fl.StringArrayVarP(&opts.Packages, "package", "p", nil, "a package NAME[@SPEC] to carry with its dependency closure (repeatable)")
	fl.BoolVar(&opts.All, "all", false, "carry every package of the registries (a general mirror)")
	fl.StringVar(&opts.Versions, "versions", "latest:1", "with --package/--all: how many of the newest versions (latest:N), or all (every version not yanked: a whole-registry mirror)")
	fl.StringVar(&opts.JuliaVersion, "julia-version", "", "with --package: honour the julia compat of this Julia version")
	fl.StringArrayVar(&opts.Registries, "registry", nil, "carry only this registry, by name or uuid (repeatable; default: every registry the source lists)")
	fl.StringArrayVar(&opts.From, "from", nil, "a source: Pkg server URL, depot or registry checkout (repeatable; default "+defaultUpstream+")")
	fl.StringArrayVar(&opts.Platforms, "platform", nil, "a target platform triplet whose artifacts to carry (repeatable; default "+defaultPlatform+")")
	fl.BoolVar(&opts.AllPlatforms, "all-platforms", false, "carry the artifacts of every platform")
	fl.BoolVar(&opts.IncludeLazy, "include-lazy", false, "also carry lazy artifacts")
	fl.BoolVar(&opts.Downloads, "downloads", false, "fetch artifacts no source has from their Artifacts.toml download URLs (sha256-checked)")
	fl.BoolVar(&opts.AllowMissing, "allow-missing", false, "record what cannot be found in the bundle's report instead of failing")
	fl.BoolVar(&opts.KeepPartial, "keep-partial", false, "if the push fails, keep the items it stored (untagged) for a re-run, instead of leaving the layout as it was")
	fl.BoolVar(&opts.NoProvenance, "no-provenance", false, "write no provenance record beside the bundle (where each item was fetched: the --from URLs and depot paths; which sources failed: then only in progress and --json)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "print the plan (items and bytes per kind and platform, what DEST has, its free space) and write nothing")
	fl.IntVar(&opts.Concurrency, "concurrency", 4, "transfers at a time")
	fl.StringVar(&opts.MaxFileSize, "max-file-size", "auto", "split tarballs into parts of at most this size (e.g. 4G, 700M; auto: 4 GiB - 1 on FAT32, else none)")
	fl.StringVar(&opts.TmpDir, "tmpdir", "", "scratch directory when DEST is a registry (default: the system's)")
	fl.StringVar(&opts.Tag, "tag", "", "the bundle's tag (default: the tag in DEST, else latest)")
	fl.StringVar(&opts.Created, "created", "", "the bundle's creation time, RFC 3339 (default: now); fix it for reproducible bundles")
	fl.StringVar(&opts.Inventory, "inventory", "", "write only what a store described by this inventory (shoebox inventory) lacks")
	fl.StringVar(&opts.Advisories, "advisories", "", "carry these OSV security advisories in the bundle and audit the closure against them: a directory, a zip, or an http(s) URL")
	fl.StringVar(&opts.FailOn, "fail-on", "", "with --advisories: refuse the push (exit 3, nothing written) when an advisory of this severity or higher matches: low, medium, high, critical")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress output")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON summary on standard output")
	opts.store.register(fl)
	return cmd
}

// exactArgs is cobra.ExactArgs with a usage error naming the arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s (got %d arguments)", cmd.CommandPath(), names, len(args))
		}
		return nil
	}
}

// parseSize reads 4G, 700M, 1024, 4GiB.
func parseSize(s string) (int64, error) {
	t := strings.TrimSuffix(strings.TrimSuffix(strings.ToUpper(strings.TrimSpace(s)), "IB"), "B")
	mult := int64(1)
	if n := len(t); n > 0 {
		switch t[n-1] {
		case 'K':
			mult, t = 1<<10, t[:n-1]
		case 'M':
			mult, t = 1<<20, t[:n-1]
		case 'G':
			mult, t = 1<<30, t[:n-1]
		case 'T':
			mult, t = 1<<40, t[:n-1]
		}
	}
	v, err := strconv.ParseInt(t, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid size %q", s)
	}
	return v * mult, nil
}

func parseVersions(s string) (int, error) {
	if s == "all" {
		return transfer.AllVersions, nil
	}
	n, err := strconv.Atoi(strings.TrimPrefix(s, "latest:"))
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--versions %q: want latest:N with N ≥ 1, or all", s)
	}
	return n, nil
}

// readManifest reads a Manifest.toml, or the manifest of a project directory.
func readManifest(p, juliaVersion string) (transfer.NamedManifest, error) {
	fi, err := os.Stat(p)
	if err != nil {
		return transfer.NamedManifest{}, fmt.Errorf("manifest %s: %w", p, err)
	}
	file := p
	if fi.IsDir() {
		name, err := julia.FindManifest(os.DirFS(p), juliaVersion)
		if err != nil {
			return transfer.NamedManifest{}, fmt.Errorf("project %s: %w", p, err)
		}
		file = filepath.Join(p, name)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return transfer.NamedManifest{}, fmt.Errorf("manifest %s: %w", file, err)
	}
	m, err := julia.ParseManifest(file, b)
	if err != nil {
		return transfer.NamedManifest{}, err
	}
	return transfer.NamedManifest{Name: file, Manifest: m}, nil
}

func runPush(ctx context.Context, f *Factory, o *PushOptions) error {
	if len(o.Manifests) == 0 && len(o.Packages) == 0 && !o.All {
		return usagef("nothing to push: give --manifest, --package or --all")
	}
	req := transfer.PushRequest{All: o.All, JuliaVersion: o.JuliaVersion, Registries: o.Registries}
	var err error
	if req.VersionsPerPackage, err = parseVersions(o.Versions); err != nil {
		return usageError{err}
	}
	for _, m := range o.Manifests {
		nm, err := readManifest(m, o.JuliaVersion)
		if err != nil {
			return err
		}
		req.Manifests = append(req.Manifests, nm)
	}
	for _, p := range o.Packages {
		r, err := julia.ParseRequirement(p)
		if err != nil {
			return usagef("--package %q: %v", p, err)
		}
		req.Packages = append(req.Packages, r)
	}
	audit, err := newPushAudit(ctx, o)
	if err != nil {
		return err
	}
	popts := transfer.PushOptions{
		AllPlatforms: o.AllPlatforms, IncludeLazy: o.IncludeLazy, Downloads: o.Downloads,
		AllowMissing: o.AllowMissing, Concurrency: o.Concurrency, TempDir: o.TmpDir,
		DryRun: o.DryRun, ToolVersion: version(), KeepPartial: o.KeepPartial, Logger: f.Log,
		Network: o.store.network(f), NoProvenance: o.NoProvenance,
	}
	platforms := o.Platforms
	if len(platforms) == 0 && !o.AllPlatforms {
		platforms = []string{defaultPlatform}
		if !o.Quiet {
			fmt.Fprintf(f.Err, "no --platform given: carrying artifacts for %s (use --platform or --all-platforms)\n", defaultPlatform)
		}
	}
	for _, t := range platforms {
		pl, err := julia.ParsePlatform(t)
		if err != nil {
			return usagef("--platform %q: %v", t, err)
		}
		popts.Platforms = append(popts.Platforms, pl)
	}
	popts.Created = f.Now().UTC().Truncate(time.Second)
	if o.Created != "" {
		if popts.Created, err = time.Parse(time.RFC3339, o.Created); err != nil {
			return usagef("--created %q: want RFC 3339, e.g. 2026-11-23T00:00:00Z", o.Created)
		}
		popts.CreatedPinned = true
	}
	from := o.From
	if len(from) == 0 {
		from = []string{defaultUpstream}
	}
	var chain upstream.Chain
	for _, s := range from {
		src, err := upstream.OpenSource(s, upstream.ServerOptions{UserAgent: "shoebox/" + version(), Policy: o.store.network(f)})
		if err != nil {
			return err
		}
		chain = append(chain, src)
	}
	var src transfer.Source = chain
	if len(chain) == 1 {
		src = chain[0]
	}

	ref, err := store.ParseReference(o.Dest)
	if err != nil {
		return usageError{err}
	}
	popts.Tag = o.Tag
	if popts.Tag == "" {
		popts.Tag = ref.Tag
	}
	if popts.Tag == "" {
		popts.Tag = "latest"
	}
	if strings.HasPrefix(popts.Tag, "sha256:") {
		return usagef("DEST %s: push needs a tag, not a digest", o.Dest)
	}
	if err := checkBundleTag(popts.Tag); err != nil {
		return err
	}
	switch o.MaxFileSize {
	case "auto", "":
		if ref.Kind == store.Layout {
			if lim, fsType, err := store.MaxFileSize(existingAncestor(ref.Path)); err == nil && lim > 0 {
				popts.MaxPartSize = lim
				if !o.Quiet {
					fmt.Fprintf(f.Err, "%s is on %s: tarballs over %s are split into parts\n", ref.Path, fsType, humanBytes(lim))
				}
			}
		}
	case "0", "none":
	default:
		if popts.MaxPartSize, err = parseSize(o.MaxFileSize); err != nil || popts.MaxPartSize < 1024 {
			return usagef("--max-file-size %q: want a size of at least 1K, e.g. 4G", o.MaxFileSize)
		}
	}
	if o.Inventory != "" {
		skip, err := inventorySkip(o.Inventory)
		if err != nil {
			return err
		}
		popts.Skip = skip
	}

	if ref.Kind == store.Layout {
		if err := store.CheckParent(ref.Path); err != nil {
			return err // before anything is fetched, dry runs included
		}
	}
	var dst *store.Store
	switch {
	case o.DryRun && ref.Kind == store.Layout && !layoutExists(ref.Path):
		dst, err = emptyDryRunStore(ctx, f, o, ref)
		// The room is the destination's, not the scratch layout's.
		popts.Room = func() (store.Room, bool, error) {
			r, err := store.RoomAt(ref.Path)
			return r, true, err
		}
	case o.DryRun && ref.Kind == store.Layout:
		// A dry run writes nothing: no lock, so a read-only stick (or one
		// another push holds) can be planned against.
		o.store.lazyGraph = true
		dst, _, err = o.store.open(ctx, f, o.Dest, true)
	default:
		// A re-push that finds its bundle up to date reads no manifest.
		o.store.lazyGraph = true
		dst, _, err = o.store.open(ctx, f, o.Dest, false)
	}
	if err != nil {
		return err
	}
	discard := false // a first push that failed: remove the layout it made
	defer func() {
		if !discard {
			dst.Close()
			return
		}
		if removed, derr := dst.Discard(); derr != nil {
			fmt.Fprintf(f.Err, "warning: removing the layout the failed push made: %v\n", derr)
		} else if removed && !o.Quiet {
			fmt.Fprintf(f.Err, "push failed: the new layout %s was removed again\n", ref.Location())
		}
	}()

	if audit != nil {
		if err := audit.install(&popts); err != nil {
			return err
		}
	}
	prog := newProgress(f, "push", o.Quiet || o.JSON && !f.ErrIsTerminal)
	popts.Progress = prog.Event
	res, err := transfer.Push(ctx, src, dst, req, popts)
	prog.Finish()
	if audit != nil {
		if err == nil {
			err = audit.upToDate(ctx, dst, res)
		}
		if !o.Quiet {
			audit.print(f)
		}
	}
	var plan *planJSON
	if res != nil && o.DryRun && err == nil {
		plan = makePlan(ref, res)
		if !o.JSON { // under --json, standard output is JSON only
			printPlan(f, ref, plan, res.Missing)
		}
	}
	if o.JSON && (res != nil || err != nil) {
		if res == nil {
			res = &transfer.PushResult{} // still one JSON object, with the error
		}
		sum := pushSummary(o, ref, res, err)
		sum.Audit = audit.json()
		sum.Plan = plan
		writeJSON(f, sum)
	}
	if err != nil {
		discard = !o.KeepPartial && ctx.Err() == nil
		if res != nil && res.RolledBack > 0 && !o.Quiet {
			fmt.Fprintf(f.Err, "push failed: %s left as it was (%d blob file(s) this push wrote removed; --keep-partial keeps them for a re-run)\n",
				ref.Location(), res.RolledBack)
		}
		return err
	}
	for _, w := range res.Warnings {
		if !o.Quiet {
			fmt.Fprintln(f.Err, "warning:", w)
		}
	}
	if !o.Quiet && !o.DryRun && res.UpToDate {
		fmt.Fprintf(f.Err, "%s:%s (%s) is up to date: same request, options and upstream registries; kept as it is, nothing written\n",
			ref.Location(), res.Tag, res.Index.Digest)
	} else if !o.Quiet && !o.DryRun {
		fmt.Fprintf(f.Err, "pushed %s:%s (%s): %d registries, %d packages, %d artifacts; %d stored, %d already there; %s in the bundle, %s fetched\n",
			ref.Location(), res.Tag, res.Index.Digest, res.Items[bundle.KindRegistry], res.Items[bundle.KindPackage], res.Items[bundle.KindArtifact],
			res.Stored, res.Reused, humanBytes(res.BytesTotal), humanBytes(res.BytesFetched))
		if len(res.Missing) > 0 {
			fmt.Fprintf(f.Err, "%d item(s) missing, recorded in the bundle's report (shoebox inspect)\n", len(res.Missing))
		}
	}
	return nil
}

func layoutExists(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "index.json"))
	return err == nil
}

// emptyDryRunStore opens a scratch layout for a dry run against a
// destination that does not exist yet, so nothing is created there.
func emptyDryRunStore(ctx context.Context, f *Factory, o *PushOptions, ref store.Reference) (*store.Store, error) {
	dir, err := os.MkdirTemp(o.TmpDir, "shoebox-dry-run-")
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, store.Reference{Kind: store.Layout, Path: dir}, store.Options{})
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	go func() { <-ctx.Done(); os.RemoveAll(dir) }()
	return st, nil
}

// planJSON is a dry run's plan: items and bytes per kind (and platform),
// what DEST holds, what would be written, and the room there.
type planJSON struct {
	Rows    []planRowJSON `json:"rows"`
	Total   planRowJSON   `json:"total"`
	ToWrite int64         `json:"toWrite"`
	// FreeAt, Free and Enough: the free space of DEST's file system (a
	// layout), and whether the files to write fit, each rounded up to
	// whole blocks.
	FreeAt string `json:"freeAt,omitempty"`
	Free   *int64 `json:"free,omitempty"`
	Enough *bool  `json:"enough,omitempty"`
}

type planRowJSON struct {
	Kind   string `json:"kind"`
	Items  int    `json:"items"`
	Bytes  int64  `json:"bytes"`
	InDest int    `json:"inDestination"`
}

func makePlan(ref store.Reference, res *transfer.PushResult) *planJSON {
	rows := map[string]*planRowJSON{}
	pl := &planJSON{Total: planRowJSON{Kind: "total"}}
	var sizes []int64
	for _, it := range res.Plan {
		key := string(it.Resource.Kind)
		if it.Resource.Kind == transfer.KindArtifact {
			p := it.Platform
			if p == "" {
				p = "any platform"
			}
			key = "artifact (" + p + ")"
		}
		r := rows[key]
		if r == nil {
			r = &planRowJSON{Kind: key}
			rows[key] = r
		}
		r.Items++
		pl.Total.Items++
		if it.Size > 0 {
			r.Bytes += it.Size
			pl.Total.Bytes += it.Size
		}
		if it.InDestination {
			r.InDest++
			pl.Total.InDest++
		} else if it.Size > 0 {
			pl.ToWrite += it.Size
			sizes = append(sizes, it.Size)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(rows)) {
		pl.Rows = append(pl.Rows, *rows[k])
	}
	if ref.Kind == store.Layout {
		dir := existingAncestor(ref.Path)
		if room, err := store.RoomAt(dir); err == nil && room.Block > 0 {
			enough := room.Needs(sizes...) <= room.Free
			pl.FreeAt, pl.Free, pl.Enough = dir, &room.Free, &enough
		}
	}
	return pl
}

func printPlan(f *Factory, ref store.Reference, pl *planJSON, missing []bundle.Missing) {
	w := f.Out
	fmt.Fprintf(w, "plan for %s:\n", ref.Location())
	fmt.Fprintf(w, "  %-44s %7s %12s %10s\n", "KIND", "ITEMS", "BYTES", "IN DEST")
	for _, r := range append(pl.Rows, pl.Total) {
		fmt.Fprintf(w, "  %-44s %7d %12s %10d\n", r.Kind, r.Items, humanBytes(r.Bytes), r.InDest)
	}
	fmt.Fprintf(w, "to write: %s\n", humanBytes(pl.ToWrite))
	if pl.Free != nil {
		verdict := "enough"
		if !*pl.Enough {
			verdict = "NOT ENOUGH"
		}
		fmt.Fprintf(w, "free space at %s: %s (%s)\n", pl.FreeAt, humanBytes(*pl.Free), verdict)
	}
	for _, m := range missing {
		fmt.Fprintf(w, "missing: %s %s %s: %s\n", m.Kind, m.Name, m.TreeHash, m.Reason)
	}
}

type pushJSON struct {
	Destination  string         `json:"destination"`
	Tag          string         `json:"tag,omitempty"`
	Digest       string         `json:"digest,omitempty"`
	DryRun       bool           `json:"dryRun,omitempty"`
	Items        map[string]int `json:"items"`
	Stored       int            `json:"stored"`
	Reused       int            `json:"reused"`
	BytesTotal   int64          `json:"bytesTotal"`
	BytesFetched int64          `json:"bytesFetched"`
	Missing      []string       `json:"missing,omitempty"`
	Warnings     []string       `json:"warnings,omitempty"`
	UpToDate     bool           `json:"upToDate,omitempty"`
	RolledBack   int            `json:"rolledBack,omitempty"`
	// Provenance is the digest of the provenance record written beside
	// the bundle (where each item was fetched), if one was.
	Provenance string     `json:"provenance,omitempty"`
	Audit      *auditJSON `json:"audit,omitempty"`
	// Plan is a dry run's plan (the table it prints without --json).
	Plan *planJSON `json:"plan,omitempty"`
	// SourceFailures are the sources that failed to give an item (the
	// next source was tried), as the provenance record keeps them.
	SourceFailures []bundle.SourceFailure `json:"sourceFailures,omitempty"`
	Error          string                 `json:"error,omitempty"`
}

func pushSummary(o *PushOptions, ref store.Reference, res *transfer.PushResult, err error) pushJSON {
	s := pushJSON{Destination: storeName(ref), Tag: res.Tag, DryRun: o.DryRun, Items: map[string]int{},
		Stored: res.Stored, Reused: res.Reused, BytesTotal: res.BytesTotal, BytesFetched: res.BytesFetched, Warnings: res.Warnings,
		UpToDate: res.UpToDate, RolledBack: res.RolledBack}
	if res.Index.Digest != "" {
		s.Digest = res.Index.Digest.String()
	}
	if res.Provenance.Digest != "" {
		s.Provenance = res.Provenance.Digest.String()
	}
	for k, n := range res.Items {
		s.Items[string(k)] = n
	}
	for _, m := range res.Missing {
		s.Missing = append(s.Missing, string(m.Kind)+" "+m.Name+" "+m.TreeHash.String()+": "+m.Reason)
	}
	s.SourceFailures = res.SourceFailures
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

func writeJSON(f *Factory, v any) {
	f.wroteJSON = true
	enc := json.NewEncoder(f.Out)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// checkBundleTag refuses, as a usage error, a tag a bundle cannot have:
// one outside the OCI tag grammar, or one cosign or the referrers tag
// schema uses (sha256-<hex>, .sig, .att, .sbom), which would replace
// another bundle's signatures or referrers with a bundle index.
func checkBundleTag(tag string) error {
	if !store.ValidTag(tag) {
		return usagef("tag %q: a tag is 1 to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-' (OCI distribution-spec)", tag)
	}
	if shelf.IsSignatureTag(tag) {
		return usagef("tag %q is where cosign keeps a bundle's signatures, attestations or referrers (sha256-<hex>[.sig|.att|.sbom]); it cannot name a bundle", tag)
	}
	return nil
}

// existingAncestor returns path, or its nearest ancestor that exists.
func existingAncestor(path string) string {
	dir := path
	for {
		if _, err := os.Stat(dir); err == nil || dir == filepath.Dir(dir) {
			return dir
		}
		dir = filepath.Dir(dir)
	}
}
