package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/internal/cli/env"
	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/transfer"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// CopyOptions are the flags and arguments of shoebox copy.
type CopyOptions struct {
	Src, Dst    string
	Tag         string
	NoVerify    bool
	Deep        bool
	Concurrency int
	Log         string
	Quiet       bool
	JSON        bool
	policy      policyFlags
	store       storeFlags
	from, to    sideFlags
}

const copyLong = `Copy bundles, with their signatures, between OCI layouts and registries.

SRC[:TAG] and DST are OCI layouts (a USB stick) or registry repositories
(Harbor, distribution, zot), in any combination. Without a tag, every
bundle tagged in SRC is copied under its own tag; with one, that bundle is
copied under --tag, the tag in DST, or its own tag, in that order.

Each bundle is verified first, exactly as "shoebox verify" does it
(signatures against --key or --policy, every digest, the closure; --deep for
tree hashes too), reading what SRC lacks from DST (so a delta pushed against
an inventory of DST verifies). A bundle that does not verify is refused
(exit 3) and nothing of it is written. --no-verify skips this (labs only).

The copy carries the signatures: cosign's "sha256-<hex>.sig" manifest
(merged with one DST already has, so a counter-signature made inside is
kept), the OCI 1.1 referrers (Sigstore bundles), and the referrers fallback
tag. Blobs DST already has are skipped, so a re-run after an interruption
transfers only what is missing. Blobs stream straight from SRC to DST,
--concurrency at a time, each retried with backoff on 5xx answers and
connection resets. Nothing partial is ever visible in DST: blobs first, then
manifests (children before parents), then signatures, and the bundle's tag
last.

Every copy (and every refusal) is appended to an import log, one JSON line
each: what was verified and copied, which keys verified it, the digests and
the time. The log is --log FILE, else <DST>/.shoebox/import.log when DST is
a layout (it travels with it), else $XDG_CONFIG_HOME/shoebox/imports.jsonl
(~/.config/shoebox/imports.jsonl when XDG_CONFIG_HOME is unset) for a
registry. The summary (and --json's "log") names the file.

Registry connections: --plain-http, --insecure, --ca-file, --username and
--password-stdin apply to both sides; --from-… and --to-… set one side
(as oras cp has them), e.g. a lab registry over plain HTTP into Harbor with
its own CA. With --from-password-stdin and --to-password-stdin both,
standard input holds two lines: SRC's password, then DST's. Between two
repositories of one registry, blobs are mounted (cross-repository blob
mount) instead of downloaded and uploaded again; where the registry refuses
a mount, they are copied.`

const copyExample = `  # the import officer: stick → Harbor, verified against the release key
  shoebox copy --key release.pub /media/usb/julia:2026-11 harbor.example.org/julia/bundles
  # every bundle of the stick, with a robot account
  echo "$ROBOT_TOKEN" | shoebox copy --policy trust.toml --username 'robot$julia' --password-stdin \
      /media/usb/julia harbor.example.org/julia/bundles
  # lab registry (plain HTTP) → Harbor, each with its own robot account
  printf '%s\n%s\n' "$LAB_TOKEN" "$HARBOR_TOKEN" | shoebox copy --key release.pub \
      --from-plain-http --from-username 'robot$lab+reader' --from-password-stdin \
      --to-ca-file harbor-ca.pem --to-username 'robot$julia+importer' --to-password-stdin \
      lab.internal:5000/julia/bundles:2026-11 harbor.example.org/julia/bundles
  # registry → layout (a second stick), resumable
  shoebox copy --key release.pub harbor.example.org/julia/bundles:2026-11 ./backup`

func newCopyCmd(f *Factory) *cobra.Command {
	opts := &CopyOptions{}
	cmd := &cobra.Command{
		Use:     "copy [flags] SRC[:TAG] DST[:TAG]",
		Short:   "Copy verified bundles with their signatures between layouts and registries",
		Long:    copyLong,
		Example: copyExample,
		Args:    exactArgs(2, "SRC[:TAG] DST[:TAG]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Src, opts.Dst = args[0], args[1]
			return runCopy(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	opts.policy.register(fl)
	fl.BoolVar(&opts.NoVerify, "no-verify", false, "copy without verifying first (labs only)")
	fl.BoolVar(&opts.Deep, "deep", false, "verify tree hashes and Tar.jl's rules too (see shoebox verify)")
	fl.StringVar(&opts.Tag, "tag", "", "the tag in DST (one bundle only; default: DST's tag, else SRC's)")
	fl.IntVar(&opts.Concurrency, "concurrency", 4, "transfers at a time")
	fl.StringVar(&opts.Log, "log", "", "append the import log here (default: DST/.shoebox/import.log for a layout, $XDG_CONFIG_HOME/shoebox/imports.jsonl (~/.config/…) for a registry)")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress output")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON summary on standard output")
	opts.store.register(fl)
	opts.from.register(fl, "from-", "source")
	opts.to.register(fl, "to-", "destination")
	return cmd
}

// importRecord is one line of the import log.
type importRecord struct {
	Time        string   `json:"time"`
	Source      string   `json:"source"`
	Destination string   `json:"destination"`
	Digest      string   `json:"digest"`
	Tag         string   `json:"tag,omitempty"`
	Result      string   `json:"result"` // ok, refused, failed
	Verified    bool     `json:"verified"`
	Deep        bool     `json:"deep,omitempty"`
	Signers     []string `json:"signers,omitempty"`
	Formats     []string `json:"formats,omitempty"`
	Copied      int      `json:"copied"`
	Mounted     int      `json:"mounted,omitempty"`
	Skipped     int      `json:"skipped"`
	Bytes       int64    `json:"bytes"`
	Signatures  int      `json:"signatures"`
	Provenance  int      `json:"provenance,omitempty"`
	Error       string   `json:"error,omitempty"`
}

type copyJSON struct {
	Source      string         `json:"source"`
	Destination string         `json:"destination"`
	OK          bool           `json:"ok"`
	Bundles     []importRecord `json:"bundles"`
	Log         string         `json:"log,omitempty"`
	Seconds     float64        `json:"seconds"`
}

// appendLog appends one JSON line to the import log, durably.
func appendLog(path string, rec importRecord) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("import log %s: %w", path, err)
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("import log %s: %w", path, err)
	}
	if _, err := fh.Write(append(b, '\n')); err != nil {
		fh.Close()
		return fmt.Errorf("import log %s: writing: %w", path, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("import log %s: writing: %w", path, err)
	}
	return fh.Close()
}

func runCopy(ctx context.Context, f *Factory, o *CopyOptions) error {
	if !o.NoVerify && !o.policy.given() {
		return usagef("copy verifies first: give --key or --policy (or --no-verify)")
	}
	if o.NoVerify && (o.policy.given() || o.Deep) {
		return usagef("--no-verify contradicts --key, --policy and --deep")
	}
	var pol *trust.Policy
	if !o.NoVerify {
		var err error
		if pol, err = o.policy.load(); err != nil {
			return err
		}
	}
	srcRef, err := store.ParseReference(o.Src)
	if err != nil {
		return usageError{err}
	}
	dstRef, err := store.ParseReference(o.Dst)
	if err != nil {
		return usageError{err}
	}
	if dstRef.IsDigest() {
		return usagef("DST %s: a destination takes a tag, not a digest", o.Dst)
	}
	dstTag := o.Tag
	if dstTag != "" && dstRef.Tag != "" && dstTag != dstRef.Tag {
		return usagef("--tag %q and DST's tag %q disagree", o.Tag, dstRef.Tag)
	}
	if dstTag == "" {
		dstTag = dstRef.Tag
	}
	if dstTag != "" && !dstRef.IsDigest() {
		if err := checkBundleTag(dstTag); err != nil {
			return err
		}
	}
	if dstTag != "" && srcRef.Tag == "" {
		return usagef("a destination tag needs one source bundle: give SRC:TAG")
	}
	if srcRef.IsDigest() && dstTag == "" {
		return usagef("SRC %s names a bundle by digest: give its tag in DST with --tag or DST:TAG", o.Src)
	}
	logPath := o.Log
	if logPath == "" {
		logPath = defaultImportLog(f, dstRef)
	}
	start := f.Now()
	srcFlags, dstFlags, err := copySides(f, o.store, &o.from, &o.to)
	if err != nil {
		return err
	}

	src, srcRef, err := openVerified(ctx, f, &srcFlags, o.Src)
	if err != nil {
		return err
	}
	defer src.Close()
	refs, err := findBundles(ctx, src, srcRef)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("%s: no bundle: %w", srcRef.Location(), errNotFoundCLI)
	}
	// Verify everything first, reading what SRC lacks from DST as it is
	// now; DST is only opened for writing (a layout created and locked)
	// when something is to be copied.
	var dstRO *store.Store
	if dstRef.Kind == store.Remote || layoutExists(dstRef.Path) {
		if dstRO, _, err = openVerified(ctx, f, &dstFlags, o.Dst); err != nil {
			return err
		}
		defer dstRO.Close()
	}
	var ctxBundles []*bundle.Bundle
	var verifySrc shelf.Target = src
	if !o.NoVerify {
		sb, _, err := contextBundles(ctx, src)
		if err != nil {
			return err
		}
		ctxBundles = sb
		if dstRO != nil {
			db, _, err := contextBundles(ctx, dstRO)
			if err != nil {
				return fmt.Errorf("%s: %w", dstRef.Location(), err)
			}
			ctxBundles = append(ctxBundles, db...)
			verifySrc = &shelf.Overlay{Primary: src, Fallback: dstRO}
		}
	}

	sum := copyJSON{Source: srcRef.String(), Destination: storeName(dstRef), OK: true, Bundles: []importRecord{}, Log: logPath}
	var fails []error
	type job struct {
		ref  shelf.Ref
		name store.Reference
		rec  importRecord
	}
	var jobs []job
	fail := func(name store.Reference, rec importRecord, result string, err error) {
		rec.Result, rec.Error = result, err.Error()
		rec.Time = f.Now().UTC().Format(time.RFC3339Nano)
		sum.OK = false
		sum.Bundles = append(sum.Bundles, rec)
		fails = append(fails, fmt.Errorf("%s: %w", name, err))
		if lerr := appendLog(logPath, rec); lerr != nil {
			fails = append(fails, lerr)
		}
	}
	for _, r := range refs {
		name := refName(srcRef, r)
		tag := cmpOr(dstTag, r.Tag)
		rec := importRecord{Source: name.String(), Destination: dstRef.WithTag(tag).String(), Digest: r.Index.Digest.String(),
			Tag: tag, Deep: o.Deep}
		if !o.NoVerify {
			res, err := shelf.Verify(ctx, verifySrc, r.Index, shelf.VerifyOptions{
				Policy: pol, Signatures: src, Deep: o.Deep, Context: ctxBundles, Concurrency: o.Concurrency})
			if res == nil && err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if res.Signature != nil {
				rec.Signers, rec.Formats = res.Signature.Signers, res.Signature.Formats
			}
			if err != nil {
				fail(name, rec, "refused", fmt.Errorf("not copied: %w", err))
				continue
			}
			rec.Verified = true
		}
		jobs = append(jobs, job{ref: r, name: name, rec: rec})
	}
	if len(jobs) == 0 {
		if o.JSON {
			sum.Seconds = f.Now().Sub(start).Seconds()
			writeJSON(f, sum)
		} else if !o.Quiet && logPath != "" {
			fmt.Fprintf(f.Err, "import log: %s\n", logPath)
		}
		return errors.Join(fails...)
	}
	if dstRO != nil {
		dstRO.Close()
	}
	dst, _, err := dstFlags.open(ctx, f, o.Dst, false)
	if err != nil {
		return err
	}
	defer dst.Close()

	prog := newProgress(f, "copy", o.Quiet || o.JSON && !f.ErrIsTerminal)
	planned := 0           // nodes of the bundles copied before this one
	var plannedBytes int64 // and their bytes to transfer
	for _, j := range jobs {
		rec := j.rec
		base, baseBytes := planned, plannedBytes
		var lastPlanned transfer.Event
		cres, err := transfer.Copy(ctx, src, dst, j.ref.Index, []string{rec.Tag}, transfer.CopyOptions{
			Concurrency: o.Concurrency, Logger: f.Log, Network: o.store.network(f), Progress: func(e transfer.Event) {
				if e.Type == transfer.EventPlanned {
					lastPlanned = e
					e.Items += base
					e.Bytes += baseBytes
				}
				prog.Event(e)
			}})
		if cres != nil {
			planned += cres.Copied + cres.Skipped
			plannedBytes += lastPlanned.Bytes
		}
		if cres != nil {
			rec.Copied, rec.Skipped, rec.Bytes, rec.Signatures = cres.Copied, cres.Skipped, cres.BytesCopied, cres.Signatures
			rec.Mounted, rec.Provenance = cres.Mounted, cres.Provenance
		}
		if err != nil {
			if ctx.Err() != nil {
				prog.Finish()
				return err
			}
			fail(j.name, rec, "failed", err)
			continue
		}
		rec.Result = "ok"
		rec.Time = f.Now().UTC().Format(time.RFC3339Nano)
		sum.Bundles = append(sum.Bundles, rec)
		if err := appendLog(logPath, rec); err != nil {
			fails = append(fails, err)
		}
		if !o.Quiet && !o.JSON {
			clearProgress(prog)
			how := "not verified (--no-verify)"
			if rec.Verified {
				how = "verified, signed by " + joinOr(rec.Signers, "-")
			}
			mounted := ""
			if rec.Mounted > 0 {
				mounted = fmt.Sprintf(", %d blobs mounted from %s", rec.Mounted, srcRef.Repository)
			}
			prov := ""
			if rec.Provenance > 0 {
				prov = ", " + plural(rec.Provenance, "provenance record", "provenance records")
			}
			fmt.Fprintf(f.Err, "copied %s → %s (%s): %d copied (%s%s), %d already there, %d signature manifests%s; %s\n",
				rec.Source, rec.Destination, rec.Digest, rec.Copied, humanBytes(rec.Bytes), mounted, rec.Skipped, rec.Signatures, prov, how)
		}
	}
	prog.Finish()
	if err := dst.Close(); err != nil {
		fails = append(fails, err)
	}
	sum.Seconds = f.Now().Sub(start).Seconds()
	if o.JSON {
		writeJSON(f, sum)
	} else if !o.Quiet && logPath != "" {
		fmt.Fprintf(f.Err, "import log: %s\n", logPath)
	}
	return errors.Join(fails...)
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func joinOr(s []string, empty string) string {
	if len(s) == 0 {
		return empty
	}
	out := s[0]
	for _, x := range s[1:] {
		out += ", " + x
	}
	return out
}

// defaultImportLog is where copy appends its import log without --log: in
// a layout DST, DST/.shoebox/import.log (it travels with the layout); for
// a registry DST, imports.jsonl in shoebox's directory of the user's
// configuration ($XDG_CONFIG_HOME/shoebox, else ~/.config/shoebox); ""
// when neither XDG_CONFIG_HOME nor HOME is set.
func defaultImportLog(f *Factory, dst store.Reference) string {
	if dst.Kind == store.Layout {
		return filepath.Join(dst.Path, ".shoebox", "import.log")
	}
	dir := f.Getenv(string(env.ConfigHome))
	if dir == "" {
		home := f.Getenv(string(env.Home))
		if home == "" {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "shoebox", "imports.jsonl")
}
