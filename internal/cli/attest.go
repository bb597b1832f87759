package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/sbom"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// AttestOptions are the flags and arguments of shoebox attest.
type AttestOptions struct {
	Ref           string
	Key           string
	Type          string
	Format        string
	PasswordStdin bool
	JSON          bool
	Quiet         bool
	store         storeFlags
}

const attestLong = `Sign a bundle's SBOM as an in-toto attestation, the way cosign stores
attestations, offline.

attest resolves STORE:TAG to the bundle index's digest once, makes its SBOM
(as shoebox sbom does: CycloneDX 1.6 with --type cyclonedx, the default, or
SPDX 2.3 with --type spdxjson; with the vulnerabilities of the advisories
the bundle carries), wraps it in an in-toto statement whose subject is the
index digest, signs the statement in a DSSE envelope, and stores it as
cosign does:

  --format simple  (default) a layer of the manifest tagged
                   "sha256-<hex>.att" (cosign v2's format); another
                   attestation adds a layer, the same one again adds nothing.
  --format bundle  the above, plus a Sigstore bundle (v0.3) referrer of the
                   index, listed in the "sha256-<hex>" referrers fallback
                   tag, as cosign v3 writes it.

The SBOM includes where the pusher got each item (the bundle's provenance
record, unsigned on its own): attest where the push ran, and the
attestation makes those sources signed evidence.

cosign verify-attestation --key KEY.pub --type cyclonedx verifies it (v2 and
v3, on a registry copy: shoebox copy carries attestations like signatures).
Keys, passwords and KMS URIs as shoebox sign takes them; no transparency
log, timestamp authority or TUF root is contacted.`

func newAttestCmd(f *Factory) *cobra.Command {
	opts := &AttestOptions{}
	cmd := &cobra.Command{
		Use:   "attest [flags] --key KEY STORE:TAG",
		Short: "Sign a bundle's SBOM as a cosign-compatible in-toto attestation",
		Long:  attestLong,
		Example: `  shoebox attest --key release.key /media/usb/julia:2026-11
  shoebox attest --key release.key --type spdxjson --format bundle harbor.example.org/julia/bundles:2026-11`,
		Args: exactArgs(1, "STORE:TAG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			return runAttest(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Key, "key", "", "private key file (shoebox or cosign), unencrypted PEM key, or KMS URI")
	fl.StringVar(&opts.Type, "type", "cyclonedx", "cyclonedx (CycloneDX 1.6, predicate https://cyclonedx.org/bom) or spdxjson (SPDX 2.3, https://spdx.dev/Document)")
	fl.StringVar(&opts.Format, "format", "simple", "simple (cosign .att tag) or bundle (also a Sigstore bundle referrer, as cosign v3)")
	fl.BoolVar(&opts.PasswordStdin, "key-password-stdin", false, "read the key's password from standard input")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON summary on standard output")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing on success")
	opts.store.register(fl)
	return cmd
}

type attestJSON struct {
	Bundle        string `json:"bundle"`
	Digest        string `json:"digest"`
	KeyID         string `json:"keyId"`
	PredicateType string `json:"predicateType"`
	Attestation   string `json:"attestation"`
	AttTag        string `json:"attestationTag"`
	Format        string `json:"format"`
}

func runAttest(ctx context.Context, f *Factory, o *AttestOptions) error {
	if o.Type != "cyclonedx" && o.Type != "spdxjson" {
		return usagef("--type %q: want cyclonedx or spdxjson", o.Type)
	}
	if o.Format != "simple" && o.Format != "bundle" {
		return usagef("--format %q: want simple or bundle", o.Format)
	}
	t, err := openSignTarget(ctx, f, "attest", o.Ref, o.Key, o.PasswordStdin, &o.store)
	if err != nil {
		return err
	}
	defer t.st.Close()
	st, ref, br, signer, pub := t.st, t.ref, t.br, t.signer, t.pub
	recs, warnings, err := provenanceOf(ctx, st, br.Index)
	if err != nil {
		return fmt.Errorf("%s: %w", ref, err)
	}
	doc, err := sbom.Collect(ctx, st, br.Index, sbom.Options{Name: ref.String(), ToolName: "shoebox", ToolVersion: version(), Provenance: recs})
	if err != nil {
		return fmt.Errorf("%s (%s): %w", ref, br.Index.Digest, err)
	}
	warn(f, append(warnings, doc.Warnings...)...)
	var predicate []byte
	if o.Type == "spdxjson" {
		predicate, err = doc.SPDX()
	} else {
		predicate, err = doc.CycloneDX()
	}
	if err != nil {
		return err
	}
	dockerRef := ""
	if ref.Kind == store.Remote {
		dockerRef = ref.Registry + "/" + ref.Repository
	}
	ptype := trust.PredicateTypeOf(o.Type)
	att, err := trust.Attest(ctx, st, br.Index, predicate, signer, trust.AttestOptions{
		PredicateType: ptype, DockerReference: dockerRef, Bundle: o.Format == "bundle"})
	if err != nil {
		return fmt.Errorf("%s: attesting: %w", ref, err)
	}
	if err := st.Close(); err != nil {
		return err
	}
	sum := attestJSON{Bundle: ref.String(), Digest: br.Index.Digest.String(), KeyID: trust.KeyID(pub), PredicateType: ptype,
		Attestation: att.Digest.String(), AttTag: trust.AttestationTag(br.Index.Digest), Format: o.Format}
	if o.JSON {
		writeJSON(f, sum)
		return nil
	}
	if !o.Quiet {
		fmt.Fprintf(f.Err, "attested %s (%s): %s SBOM (%s) signed with key %s\nattestation in %s of %s\n",
			ref, br.Index.Digest, o.Type, ptype, sum.KeyID, sum.AttTag, ref.Location())
		if o.Format == "bundle" {
			fmt.Fprintf(f.Err, "Sigstore bundle referrer listed in %s\n", trust.ReferrersTag(br.Index.Digest))
		}
	}
	return nil
}
