package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"oras.land/oras-go/v2/content"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/transfer"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// Integrity, format, closure and policy-coverage failures are verification
// failures (exit 3), like signature failures (exitcodes_trust.go).
func init() {
	verifyErrors = append(verifyErrors, func(err error) bool {
		return errors.Is(err, bundle.ErrIntegrity) || errors.Is(err, bundle.ErrFormat) ||
			errors.Is(err, shelf.ErrIncomplete)
	})
}

// VerifyOptions are the flags and arguments of shoebox verify.
type VerifyOptions struct {
	Store       string
	With        string
	Deep        bool
	Manifests   []string
	Platforms   []string
	Concurrency int
	Quiet       bool
	JSON        bool
	policy      policyFlags
	store       storeFlags
}

const verifyLong = `Verify bundles before anything inside trusts them.

For the bundle at STORE:TAG (or STORE@DIGEST), or every bundle tagged in
STORE when no tag is given, verify checks, and reports each separately:

  signature  the bundle index's cosign signatures (the "sha256-<hex>.sig"
             tag, cosign v2 OCI 1.1 referrers, cosign v3 Sigstore bundles)
             against --key or --policy, with no network at all. The
             outcomes are distinct: unsigned, signed only by unknown keys,
             bad signature (always fatal, even beside good ones), below the
             policy's threshold, ok.
  integrity  every index, item manifest and blob the bundle references is
             present with the right size and digest, streamed, several at a
             time. With --deep, every tarball is also decompressed and held
             to Tar.jl's rules and its tree hash (what Pkg checks).
  closure    every package is listed at its tree hash by a registry snapshot
             of the bundle (or of another bundle of the store, or of --with),
             and every artifact is referenced by an Artifacts.toml of one of
             the bundle's packages.

With --manifest (and --platform, default ` + defaultPlatform + `), verify also answers
"will Pkg.instantiate of this manifest succeed from this store": every
package the manifest pins and every non-lazy artifact Julia would pick for
the platform must be in a verified bundle (or in --with), and what is missing
is listed by name, version, uuid and tree hash.

--with STORE verifies a delta (a bundle pushed against an inventory of
STORE): what the bundle references but does not carry is read from STORE.

The trust policy (--policy FILE, TOML):
  threshold = 2            # distinct trusted keys that must sign (default 1)
  tags = ["release-*"]     # the tags signatures must have been made for
                           # (default: any bundle); see below
  require_attestations = ["cyclonedx"]
                           # attestations (shoebox attest, cosign attest)
                           # that must be signed by one of the keys:
                           # cyclonedx, spdxjson or a predicate type URI
  [[keys]]
  name = "ops"
  path = "ops.pub"         # relative to the policy file
--key PUB (repeatable) is the policy "any one of these keys".

What "tags" guarantees: a bundle passes only if the threshold of trusted
keys signed it for a tag matching a pattern, the tag being read from the
signed data (shoebox sign STORE:TAG records it; cosign sign -a
dev.shoebox.tag=TAG too). The tags the store itself gives the bundle are
never consulted: renaming a bundle signed for test-1 to prod-1, or adding a
prod-1 tag to it, does not make it pass ["prod-*"].

Exit status: 0 when everything verified, 3 when a signature, integrity,
closure or manifest check failed (each failure is named), 4 when the store
or tag does not exist, 1 for other errors.`

const verifyExample = `  shoebox verify --key release.pub /media/usb/julia:2026-11
  shoebox verify --policy trust.toml --deep /media/usb/julia
  shoebox verify --key release.pub --manifest proj/Manifest.toml --platform aarch64-linux-gnu harbor.example.org/julia/bundles
  shoebox verify --key release.pub --with harbor.example.org/julia/bundles /media/usb/julia:delta-2026-12`

func newVerifyCmd(f *Factory) *cobra.Command {
	opts := &VerifyOptions{}
	cmd := &cobra.Command{
		Use:     "verify [flags] STORE[:TAG]",
		Short:   "Verify bundles: signatures against a trust policy, every digest, closure, manifests",
		Long:    verifyLong,
		Example: verifyExample,
		Args:    exactArgs(1, "STORE[:TAG]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Store = args[0]
			return runVerify(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	opts.policy.register(fl)
	fl.BoolVar(&opts.Deep, "deep", false, "also decompress every tarball and check Tar.jl's rules and its tree hash")
	fl.StringVar(&opts.With, "with", "", "read what the bundle references but does not carry from this store (a delta)")
	fl.StringArrayVarP(&opts.Manifests, "manifest", "m", nil, "check that Pkg.instantiate of this Manifest.toml (or project directory) would succeed (repeatable)")
	fl.StringArrayVar(&opts.Platforms, "platform", nil, "with --manifest: the platform triplet (repeatable; default "+defaultPlatform+")")
	fl.IntVar(&opts.Concurrency, "concurrency", 4, "items checked at a time")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "no progress and no summary, only errors")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON report on standard output")
	opts.store.register(fl)
	return cmd
}

// policyFlags are the trust policy flags verify and copy share.
type policyFlags struct {
	keys   []string
	policy string
}

func (p *policyFlags) register(fs *pflag.FlagSet) {
	fs.StringArrayVar(&p.keys, "key", nil, "a trusted public key (PEM, e.g. cosign.pub); any one of them must sign (repeatable)")
	fs.StringVar(&p.policy, "policy", "", "a trust policy file (TOML: keys, threshold, tags)")
}

func (p *policyFlags) given() bool { return len(p.keys) > 0 || p.policy != "" }

// load reads the policy the flags name.
func (p *policyFlags) load() (*trust.Policy, error) {
	if len(p.keys) > 0 && p.policy != "" {
		return nil, usagef("give --key or --policy, not both")
	}
	if p.policy != "" {
		fh, err := os.Open(p.policy)
		if err != nil {
			return nil, fmt.Errorf("policy %s: %w", p.policy, err)
		}
		defer fh.Close()
		pol, err := trust.ParsePolicy(fh, filepath.Dir(p.policy))
		if err != nil {
			return nil, usagef("policy %s: %v", p.policy, err)
		}
		return pol, nil
	}
	var pems [][]byte
	for _, k := range p.keys {
		b, err := os.ReadFile(k)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", k, err)
		}
		pems = append(pems, b)
	}
	pol, err := trust.PolicyFromKeys(pems...)
	if err != nil {
		return nil, usagef("--key %s: %v", strings.Join(p.keys, ", "), err)
	}
	return pol, nil
}

// openVerified opens a store read-only for verification: an index.json
// that cannot be decoded (truncated, overwritten), or a manifest it lists
// whose bytes do not match its digest, is an integrity failure of the
// store, not a usage problem.
func openVerified(ctx context.Context, f *Factory, sf *storeFlags, ref string) (*store.Store, store.Reference, error) {
	st, r, err := sf.open(ctx, f, ref, true)
	if err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		if errors.As(err, &se) || errors.As(err, &te) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, content.ErrMismatchedDigest) || errors.Is(err, content.ErrTrailingData) {
			return nil, r, fmt.Errorf("%w: %w", bundle.ErrIntegrity, err)
		}
		return nil, r, err
	}
	return st, r, nil
}

type verifySigJSON struct {
	Outcome string   `json:"outcome"`
	Signers []string `json:"signers,omitempty"`
	Tags    []string `json:"tags,omitempty"`
	Unknown int      `json:"unknown,omitempty"`
	Formats []string `json:"formats,omitempty"`
	// Attestations are the bundle's attestations (shoebox attest, cosign
	// attest) with the policy keys that signed each.
	Attestations []verifyAttJSON `json:"attestations,omitempty"`
}

type verifyAttJSON struct {
	PredicateType string   `json:"predicateType"`
	Format        string   `json:"format"`
	Signers       []string `json:"signers,omitempty"`
}

type verifyIntegrityJSON struct {
	Indexes   int      `json:"indexes"`
	Manifests int      `json:"manifests"`
	Blobs     int      `json:"blobs"`
	Bytes     int64    `json:"bytes"`
	Problems  []string `json:"problems,omitempty"`
}

type verifyClosureJSON struct {
	Packages     int      `json:"packages"`
	Artifacts    int      `json:"artifacts"`
	Registries   []string `json:"registries,omitempty"`
	Unlisted     []string `json:"unlisted,omitempty"`
	Unreferenced []string `json:"unreferenced,omitempty"`
}

type verifyBundleJSON struct {
	Tag       string               `json:"tag,omitempty"`
	Digest    string               `json:"digest"`
	OK        bool                 `json:"ok"`
	Signature *verifySigJSON       `json:"signature,omitempty"`
	Integrity *verifyIntegrityJSON `json:"integrity,omitempty"`
	Closure   *verifyClosureJSON   `json:"closure,omitempty"`
	Errors    []string             `json:"errors,omitempty"`
}

type verifyManifestJSON struct {
	Manifest  string           `json:"manifest"`
	Platform  string           `json:"platform"`
	OK        bool             `json:"ok"`
	Packages  int              `json:"packages"`
	Artifacts int              `json:"artifacts"`
	Missing   []bundle.Missing `json:"missing,omitempty"`
}

type verifyJSON struct {
	Store     string               `json:"store"`
	OK        bool                 `json:"ok"`
	Bundles   []verifyBundleJSON   `json:"bundles"`
	Manifests []verifyManifestJSON `json:"manifests,omitempty"`
	Bytes     int64                `json:"bytes"`
	Seconds   float64              `json:"seconds"`
	Error     string               `json:"error,omitempty"`
}

// bundleJSON summarises one shelf.Verify outcome.
func bundleJSON(r shelf.Ref, res *shelf.VerifyResult, err error) verifyBundleJSON {
	out := verifyBundleJSON{Tag: r.Tag, Digest: r.Index.Digest.String(), OK: err == nil}
	if res != nil {
		if s := res.Signature; s != nil {
			out.Signature = &verifySigJSON{Outcome: string(s.Outcome), Signers: s.Signers, Tags: s.Tags, Unknown: s.Unknown, Formats: s.Formats}
			if s.Attestations != nil {
				out.Signature.Attestations = attestationsJSON(s.Attestations)
			}
		}
		if c := res.Check; c != nil {
			out.Integrity = &verifyIntegrityJSON{Indexes: c.Indexes, Manifests: c.Manifests, Blobs: c.Blobs, Bytes: c.Bytes}
			for _, p := range c.Problems {
				out.Integrity.Problems = append(out.Integrity.Problems, p.Error())
			}
		}
		if c := res.Closure; c != nil {
			out.Closure = &verifyClosureJSON{Packages: c.Packages, Artifacts: c.Artifacts, Registries: c.Registries}
			for _, e := range c.Unlisted {
				out.Closure.Unlisted = append(out.Closure.Unlisted, e.Item.String())
			}
			for _, e := range c.Unreferenced {
				out.Closure.Unreferenced = append(out.Closure.Unreferenced, e.Item.String())
			}
		}
	}
	if err != nil {
		for _, e := range unjoin(err) {
			out.Errors = append(out.Errors, e.Error())
		}
	}
	return out
}

func attestationsJSON(atts []trust.Attestation) []verifyAttJSON {
	out := []verifyAttJSON{}
	for _, a := range atts {
		out = append(out, verifyAttJSON{PredicateType: a.PredicateType, Format: a.Format, Signers: a.Signers})
	}
	return out
}

// unjoin splits an errors.Join result into its members.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// printBundle writes the human summary of one verified bundle.
func printBundle(f *Factory, name string, b verifyBundleJSON) {
	w := f.Out
	ok, failed := f.okWord(), f.failedWord()
	fmt.Fprintf(w, "bundle %s (%s)\n", name, b.Digest)
	if s := b.Signature; s != nil {
		if s.Outcome == string(trust.OutcomeOK) {
			forTags := ""
			if len(s.Tags) > 0 {
				forTags = " for tag " + strings.Join(s.Tags, ", ")
			}
			fmt.Fprintf(w, "  signature  %s: signed by %s%s [%s]\n", ok, strings.Join(s.Signers, ", "), forTags, strings.Join(s.Formats, ", "))
		} else {
			fmt.Fprintf(w, "  signature  %s: %s\n", failed, sigError(b))
		}
		for _, a := range s.Attestations {
			by := "signed by no trusted key"
			if len(a.Signers) > 0 {
				by = "signed by " + strings.Join(a.Signers, ", ")
			}
			fmt.Fprintf(w, "  attested   %s [%s]: %s\n", a.PredicateType, a.Format, by)
		}
	}
	if c := b.Integrity; c != nil {
		if len(c.Problems) == 0 {
			fmt.Fprintf(w, "  integrity  %s: %s, %s, %s, %s read\n", ok, plural(c.Indexes, "index", "indexes"),
				plural(c.Manifests, "manifest", "manifests"), plural(c.Blobs, "blob", "blobs"), humanBytes(c.Bytes))
		} else {
			fmt.Fprintf(w, "  integrity  %s: %s\n", failed, plural(len(c.Problems), "problem", "problems"))
			for _, p := range c.Problems {
				fmt.Fprintf(w, "    %s\n", p)
			}
		}
	}
	if c := b.Closure; c != nil {
		if len(c.Unlisted)+len(c.Unreferenced) == 0 {
			regs := "no registry needed"
			if len(c.Registries) > 0 {
				regs = "listed in " + strings.Join(c.Registries, ", ")
			}
			fmt.Fprintf(w, "  closure    %s: %s %s, %s referenced by them\n", ok, plural(c.Packages, "package", "packages"), regs,
				plural(c.Artifacts, "artifact", "artifacts"))
		} else {
			fmt.Fprintf(w, "  closure    %s\n", failed)
			for _, u := range c.Unlisted {
				fmt.Fprintf(w, "    %s: not listed at this tree hash in any registry snapshot\n", u)
			}
			for _, u := range c.Unreferenced {
				fmt.Fprintf(w, "    %s: referenced by no Artifacts.toml of the bundle's packages\n", u)
			}
		}
	} else if b.Integrity != nil && len(b.Integrity.Problems) > 0 {
		fmt.Fprintf(w, "  closure    not checked (integrity failed)\n")
	}
}

func sigError(b verifyBundleJSON) string {
	for _, e := range b.Errors {
		if strings.HasPrefix(e, b.Digest+": ") {
			return e
		}
	}
	return b.Signature.Outcome
}

func runVerify(ctx context.Context, f *Factory, o *VerifyOptions) error {
	if !o.policy.given() {
		return usagef("verify needs --key or --policy: say whose signatures to trust")
	}
	if len(o.Platforms) > 0 && len(o.Manifests) == 0 {
		return usagef("--platform needs --manifest")
	}
	pol, err := o.policy.load()
	if err != nil {
		return err
	}
	var platforms []julia.Platform
	for _, t := range o.Platforms {
		pl, err := julia.ParsePlatform(t)
		if err != nil {
			return usagef("--platform %q: %v", t, err)
		}
		platforms = append(platforms, pl)
	}
	if len(platforms) == 0 {
		platforms = []julia.Platform{julia.MustParsePlatform(defaultPlatform)}
	}
	var manifests []transfer.NamedManifest
	for _, m := range o.Manifests {
		nm, err := readManifest(m, "")
		if err != nil {
			return err
		}
		manifests = append(manifests, nm)
	}
	start := f.Now()

	st, ref, err := openVerified(ctx, f, &o.store, o.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	var src shelf.Target = st
	var withCtx, withBundles []*bundle.Bundle
	if o.With != "" {
		ws, _, err := openVerified(ctx, f, &o.store, o.With)
		if err != nil {
			return fmt.Errorf("--with: %w", err)
		}
		defer ws.Close()
		src = &shelf.Overlay{Primary: st, Fallback: ws}
		if withCtx, _, err = contextBundles(ctx, ws); err != nil {
			return fmt.Errorf("--with %s: %w", o.With, err)
		}
		if len(manifests) > 0 {
			// The manifests' closure looks for items in it too.
			if withBundles, err = storeBundles(ctx, ws); err != nil {
				return fmt.Errorf("--with %s: %w", o.With, err)
			}
		}
	}
	refs, err := findBundles(ctx, st, ref)
	if err != nil {
		return err
	}
	if len(refs) == 0 {
		return fmt.Errorf("%s: no bundle: %w", ref.Location(), errNotFoundCLI)
	}
	others, counts, err := contextBundles(ctx, st)
	if err != nil {
		return err
	}
	ctxBundles := append(others, withCtx...)
	planned := map[string]int{}
	plannedBytes := map[string]int64{}
	for d, c := range counts {
		planned[d], plannedBytes[d] = c.Items, c.Bytes
	}

	report := verifyJSON{Store: storeName(ref), OK: true, Bundles: []verifyBundleJSON{}}
	var fails []error
	var good []*bundle.Bundle
	var refused []refusedBundle // what a manifest misses may be in one
	prog := newProgress(f, "verify", o.Quiet || o.JSON && !f.ErrIsTerminal)
	planTotal, planBytes := 0, int64(0)
	for _, r := range refs {
		name := refName(ref, r).String()
		planTotal += planned[r.Index.Digest.String()]
		planBytes += plannedBytes[r.Index.Digest.String()]
		prog.Event(transfer.Event{Type: transfer.EventPlanned, Items: planTotal, Bytes: planBytes})
		res, err := shelf.Verify(ctx, src, r.Index, shelf.VerifyOptions{
			Policy: pol, Signatures: st, Deep: o.Deep, Context: ctxBundles, Concurrency: o.Concurrency,
			Progress: func(e bundle.CheckEvent) {
				if e.Bytes > 0 {
					prog.Event(transfer.Event{Type: transfer.EventBytes, Bytes: e.Bytes})
				}
				if e.Entry != nil && e.Descriptor.Digest == e.Entry.Manifest.Digest {
					prog.Event(transfer.Event{Type: transfer.EventDone})
				}
			},
		})
		if res == nil && err != nil {
			prog.Finish()
			return fmt.Errorf("%s: %w", name, err)
		}
		bj := bundleJSON(r, res, err)
		if bj.Signature != nil && bj.Signature.Attestations == nil {
			// Report the attestations (a policy that requires some had
			// them checked already, inside the signature step).
			atts, aerr := trust.VerifyAttestations(ctx, st, r.Index, pol)
			if aerr != nil && atts == nil {
				prog.Finish()
				return fmt.Errorf("%s: attestations: %w", name, aerr)
			}
			bj.Signature.Attestations = attestationsJSON(atts)
		}
		report.Bundles = append(report.Bundles, bj)
		if res.Check != nil {
			report.Bytes += res.Check.Bytes
		}
		if err != nil {
			report.OK = false
			fails = append(fails, fmt.Errorf("%s: %w", name, err))
			if res.Bundle != nil && len(manifests) > 0 {
				refused = append(refused, refusedBundle{name: name, res: res, err: err})
			}
		} else if res.Bundle != nil && len(manifests) > 0 {
			good = append(good, res.Bundle) // for the manifests' closure
		}
		if !o.Quiet && !o.JSON {
			clearProgress(prog)
			printBundle(f, name, bj)
		}
	}
	prog.Finish()

	if len(manifests) > 0 {
		cat := bundle.NewCatalog(append(good, withBundles...)...)
		for _, m := range manifests {
			for _, pl := range platforms {
				mr, err := shelf.CheckManifest(ctx, src, cat, m.Name, m.Manifest, pl, o.Concurrency)
				if err != nil {
					return err
				}
				explainMissing(mr.Missing, refused)
				mj := verifyManifestJSON{Manifest: mr.Manifest, Platform: mr.Platform, OK: len(mr.Missing) == 0,
					Packages: mr.Packages, Artifacts: mr.Artifacts, Missing: mr.Missing}
				report.Manifests = append(report.Manifests, mj)
				if err := mr.Err(); err != nil {
					report.OK = false
					fails = append(fails, err)
				}
				if !o.Quiet && !o.JSON {
					printManifest(f, mj)
				}
			}
		}
	}
	elapsed := f.Now().Sub(start)
	report.Seconds = elapsed.Seconds()
	err = errors.Join(fails...)
	if err != nil {
		report.Error = err.Error()
	}
	if o.JSON {
		writeJSON(f, report)
	} else if !o.Quiet {
		verdict := f.okWord()
		if err != nil {
			verdict = f.failedWord()
		}
		fmt.Fprintf(f.Out, "verified %s, %s read, in %s: %s\n", plural(len(refs), "bundle", "bundles"), humanBytes(report.Bytes), elapsed.Round(time.Millisecond), verdict)
	}
	if err != nil {
		return fmt.Errorf("verification failed: %w", err)
	}
	return nil
}

func printManifest(f *Factory, m verifyManifestJSON) {
	if m.OK {
		fmt.Fprintf(f.Out, "manifest %s on %s: %s: %s, %s in the store\n", m.Manifest, m.Platform, f.okWord(),
			plural(m.Packages, "package", "packages"), plural(m.Artifacts, "artifact", "artifacts"))
		return
	}
	fmt.Fprintf(f.Out, "manifest %s on %s: %s: Pkg.instantiate would miss %d of %d packages and artifacts:\n",
		m.Manifest, m.Platform, f.failedWord(), len(m.Missing), m.Packages+m.Artifacts)
	for _, mi := range m.Missing {
		fmt.Fprintf(f.Out, "  missing %s\n", shelf.MissingString(mi))
	}
}

// clearProgress removes a live progress line before other output.
func clearProgress(p *progress) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

// plural formats a count with the right form of a noun.
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// refusedBundle is a bundle of the store that did not verify.
type refusedBundle struct {
	name string
	res  *shelf.VerifyResult
	err  error
}

// explainMissing says, for what a manifest misses that the store holds in
// a bundle that did not verify, where it is and what is wrong, instead of
// "not in the store": the package no registry snapshot lists is named as
// such, the others as held by a refused bundle, with the reason.
func explainMissing(missing []bundle.Missing, refused []refusedBundle) {
	for i, m := range missing {
		for _, r := range refused {
			b := r.res.Bundle
			cat := bundle.NewCatalog(b)
			var found bool
			switch m.Kind {
			case bundle.KindPackage:
				_, found = cat.Package(m.UUID, m.TreeHash)
			case bundle.KindArtifact:
				_, found = cat.Artifact(m.TreeHash)
			}
			if !found {
				continue
			}
			if cl := r.res.Closure; cl != nil && m.Kind == bundle.KindPackage {
				if slices.ContainsFunc(cl.Unlisted, func(e bundle.Entry) bool { return e.UUID == m.UUID && e.TreeHash == m.TreeHash }) {
					missing[i].Reason = "in " + r.name + ", which is refused: no registry snapshot lists this package at this tree hash " +
						"(Pkg would not find it; push it with the registry snapshot that has it)"
					break
				}
			}
			missing[i].Reason = "in " + r.name + ", which is refused: " + firstLine(r.err.Error())
			break
		}
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}
