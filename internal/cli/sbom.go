package cli

import (
	"context"
	"fmt"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/advisory"
	"github.com/shoebox-jl/shoebox/pkg/julia"
	"github.com/shoebox-jl/shoebox/pkg/sbom"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

// SBOMOptions are the flags and arguments of shoebox sbom.
type SBOMOptions struct {
	Ref        string
	Format     string
	Output     string
	Manifests  []string
	Advisories string
	store      storeFlags
}

func newSBOMCmd(f *Factory) *cobra.Command {
	opts := &SBOMOptions{}
	cmd := &cobra.Command{
		Use:   "sbom [flags] STORE[:TAG]",
		Short: "Print the software bill of materials of a bundle (CycloneDX or SPDX)",
		Long: `Print the SBOM of a bundle: CycloneDX 1.6 JSON (the default) or SPDX 2.3
JSON. It lists every package version by its Julia purl
(pkg:julia/NAME@VERSION?uuid=UUID) with the SHA-256 of its tarball and its
git tree hash, every artifact with its tarball's SHA-256, tree hash,
platform and the download URLs its Artifacts.toml gives, every registry
snapshot with its uuid and tree hash, the dependencies between them (from
the registry's Deps.toml and Compat.toml, or exactly from --manifest for
the versions a manifest pins, and from each package's Artifacts.toml), and
the bundle: its digest, created time, platforms, inputs and the shoebox
version that wrote it.

With --advisories (a directory of OSV files, a zip of them or a URL of
one), the advisories that affect the bundle's packages are listed too
(CycloneDX "vulnerabilities", SPDX SECURITY references).

Where each item was fetched comes from the bundle's provenance records,
which push writes beside it (not in it): SPDX downloadLocation and
sourceInfo, CycloneDX "distribution" references and "shoebox:source"
properties, marked as reported by the pusher. A record is not signed:
whoever can write the store can write one. The signed evidence is an
attestation of this SBOM made where the push ran (shoebox attest).

The same bundle (with the same provenance records) always gives the same
bytes: the only time in the document is the bundle's created time. STORE without a tag works when the store
holds one bundle. Run shoebox verify first if the store is not yours: sbom
checks every digest it reads, not signatures.`,
		Example: `  shoebox sbom /media/usb/julia:2026-11 > julia-2026-11.cdx.json
  shoebox sbom --format spdx --output julia-2026-11.spdx.json /media/usb/julia:2026-11
  shoebox sbom --advisories SecurityAdvisories.jl/osv /media/usb/julia:2026-11`,
		Args: exactArgs(1, "STORE[:TAG]"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			return runSBOM(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Format, "format", "cyclonedx", "cyclonedx (CycloneDX 1.6 JSON) or spdx (SPDX 2.3 JSON)")
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write to this file (atomically) instead of standard output")
	cmd.Flags().StringArrayVar(&opts.Manifests, "manifest", nil, "Manifest.toml (or project directory) the bundle was made from: exact dependencies for the versions it pins (repeatable)")
	cmd.Flags().StringVar(&opts.Advisories, "advisories", "", "OSV advisories to list as vulnerabilities: a directory, a zip, or an http(s) URL")
	opts.store.register(cmd.Flags())
	return cmd
}

func runSBOM(ctx context.Context, f *Factory, o *SBOMOptions) error {
	if o.Format != "cyclonedx" && o.Format != "spdx" {
		return usagef("--format %q: want cyclonedx or spdx", o.Format)
	}
	var ms []*julia.Manifest
	for _, m := range o.Manifests {
		nm, err := readManifest(m, "")
		if err != nil {
			return err
		}
		ms = append(ms, nm.Manifest)
	}
	var db *advisory.Database
	if o.Advisories != "" {
		var err error
		if db, err = loadAdvisories(ctx, o.Advisories); err != nil {
			return err
		}
	}
	st, ref, err := o.store.open(ctx, f, o.Ref, true)
	if err != nil {
		return err
	}
	defer st.Close()
	desc, name, err := resolveOneBundle(ctx, st, ref)
	if err != nil {
		return err
	}
	recs, warnings, err := provenanceOf(ctx, st, desc)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	doc, err := sbom.Collect(ctx, st, desc, sbom.Options{Name: name, ToolName: "shoebox", ToolVersion: version(), Manifests: ms, Advisories: db,
		Provenance: recs})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	warn(f, append(warnings, doc.Warnings...)...)
	var out []byte
	if o.Format == "spdx" {
		out, err = doc.SPDX()
	} else {
		out, err = doc.CycloneDX()
	}
	if err != nil {
		return err
	}
	if o.Output == "" {
		_, err = f.Out.Write(out)
		return err
	}
	return writeKeyFile(o.Output, out, 0o644, true)
}

// loadAdvisories reads OSV advisories from a directory, zip or URL.
func loadAdvisories(ctx context.Context, src string) (*advisory.Database, error) {
	fsys, err := advisory.OpenSource(ctx, src, nil)
	if err != nil {
		return nil, err
	}
	db, err := advisory.Load(fsys)
	if err != nil {
		return nil, fmt.Errorf("advisories %s: %w", src, err)
	}
	return db, nil
}

// resolveOneBundle resolves ref's tag or digest to a bundle index, or,
// without one, the store's only bundle; name is how to call it.
func resolveOneBundle(ctx context.Context, st *store.Store, ref store.Reference) (ocispec.Descriptor, string, error) {
	if ref.Tag != "" {
		desc, err := st.Resolve(ctx, ref.Tag)
		if err != nil {
			return desc, "", fmt.Errorf("%s: %w", ref, err)
		}
		return desc, ref.String(), nil
	}
	bs, err := readBundles(ctx, st, ref)
	if err != nil {
		return ocispec.Descriptor{}, "", err
	}
	switch len(bs) {
	case 0:
		return ocispec.Descriptor{}, "", fmt.Errorf("%s holds no bundle: %w", ref.Location(), errNotFoundCLI)
	case 1:
		return bs[0].Bundle.Index, ref.WithTag(bs[0].Tag).String(), nil
	}
	var tags []string
	for _, b := range bs {
		tags = append(tags, b.Tag)
	}
	return ocispec.Descriptor{}, "", usagef("%s holds %d bundles (%s): name one as STORE:TAG", ref.Location(), len(bs), strings.Join(tags, ", "))
}
