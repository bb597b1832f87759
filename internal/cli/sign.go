package cli

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// SignOptions are the flags and arguments of shoebox sign.
type SignOptions struct {
	Ref           string
	Key           string
	Format        string
	Annotations   []string
	PasswordStdin bool
	NoVerify      bool
	JSON          bool
	Quiet         bool
	store         storeFlags
}

const signLong = `Sign a bundle, cosign-compatibly and fully offline.

sign resolves STORE:TAG to the bundle index's digest once, then signs that
digest: only the index is signed, and the index names every item manifest
by digest, which names every blob by digest. The signature is made for
TAG: the tag is recorded inside the signed data (the payload's optional
claim "dev.shoebox.tag", which cosign ignores and "cosign sign -a
dev.shoebox.tag=TAG" writes too), and a trust policy's "tags" are checked
against it, never against the tags a store gives the bundle, which anyone
who can write the store can rename or add. STORE@DIGEST signs for no tag:
only policies without "tags" accept such a signature. Signing one bundle
for a second tag adds a signature. Before it signs, sign reads every blob
the bundle reaches and checks its digest, so that a bundle changed since
it was pushed (a byte flipped on a stick) is refused (exit 3), never
signed; --no-verify skips that. The signature is stored the
way cosign stores it, so that cosign verify, Harbor and shoebox verify all
find it, in a registry and in an OCI layout alike:

  --format simple  (default) cosign's simple-signing payload in a manifest
                   tagged "sha256-<hex>.sig" (cosign v2's format). A second
                   signer adds a layer to the same manifest; signing again
                   with the same key for the same tag adds nothing.
  --format bundle  the above, plus a Sigstore bundle (v0.3, DSSE over an
                   in-toto statement) as an OCI 1.1 referrer of the index,
                   listed in the "sha256-<hex>" referrers fallback tag, as
                   cosign v3 writes it.

No transparency log, timestamp authority or TUF root is ever contacted;
the only network peer is the destination registry itself.

KEY is a private key file made by "shoebox key generate" or "cosign
generate-key-pair" (encrypted), an unencrypted PEM private key (PKCS#8,
SEC 1 or PKCS#1), or a KMS URI (hashivault://KEY). The password of an
encrypted key comes from --key-password-stdin, SHOEBOX_PASSWORD,
COSIGN_PASSWORD, or a prompt on a terminal, in that order. Registry
credentials come from the docker config, or --username with
--password-stdin, as in every other command (both cannot read standard
input).`

const signExample = `  shoebox sign --key release.key /media/usb/julia:2026-11
  SHOEBOX_PASSWORD=… shoebox sign --key release.key --format bundle harbor.example.org/julia/bundles:2026-11
  shoebox sign --key hashivault://julia-release /media/usb/julia:2026-11`

func newSignCmd(f *Factory) *cobra.Command {
	opts := &SignOptions{}
	cmd := &cobra.Command{
		Use:     "sign [flags] --key KEY STORE:TAG",
		Short:   "Sign a bundle with cosign-compatible signatures (no network beyond the store)",
		Long:    signLong,
		Example: signExample,
		Args:    exactArgs(1, "STORE:TAG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Ref = args[0]
			return runSign(cmd.Context(), f, opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Key, "key", "", "private key file (shoebox or cosign), unencrypted PEM key, or KMS URI")
	fl.StringVar(&opts.Format, "format", "simple", "simple (cosign .sig tag) or bundle (also a Sigstore bundle referrer, as cosign v3)")
	fl.StringArrayVarP(&opts.Annotations, "annotation", "a", nil, "KEY=VALUE added to the signed payload, as cosign sign -a (repeatable)")
	fl.BoolVar(&opts.PasswordStdin, "key-password-stdin", false, "read the key's password from standard input")
	fl.BoolVar(&opts.NoVerify, "no-verify", false, "sign without first checking every digest of the bundle")
	fl.BoolVar(&opts.JSON, "json", false, "print a JSON summary on standard output")
	fl.BoolVarP(&opts.Quiet, "quiet", "q", false, "print nothing on success")
	opts.store.register(fl)
	// Until 2026-12, sign called the registry's password flag this.
	hiddenAlias(fl, "registry-password-stdin", "password-stdin")
	return cmd
}

type signJSON struct {
	Bundle    string `json:"bundle"`
	Digest    string `json:"digest"`
	Key       string `json:"key"`
	KeyID     string `json:"keyId"`
	Signature string `json:"signature"`
	SigTag    string `json:"signatureTag"`
	Tag       string `json:"tag,omitempty"`
	Format    string `json:"format"`
}

func runSign(ctx context.Context, f *Factory, o *SignOptions) error {
	if o.Format != "simple" && o.Format != "bundle" {
		return usagef("--format %q: want simple or bundle", o.Format)
	}
	ann := map[string]string{}
	for _, a := range o.Annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return usagef("--annotation %q: want KEY=VALUE", a)
		}
		ann[k] = v
	}
	if _, ok := ann[trust.AnnotationTag]; ok {
		return usagef("--annotation %s: sign records the tag it signs for itself (STORE:TAG)", trust.AnnotationTag)
	}
	if len(ann) == 0 {
		ann = nil
	}
	t, err := openSignTarget(ctx, f, "sign", o.Ref, o.Key, o.PasswordStdin, &o.store)
	if err != nil {
		return err
	}
	defer t.st.Close()
	st, ref, br, signer, pub := t.st, t.ref, t.br, t.signer, t.pub
	desc := br.Index
	if _, err := bundle.Read(ctx, st, desc); err != nil {
		return fmt.Errorf("%s (%s): not a bundle: %w", ref, desc.Digest, err)
	}
	if !o.NoVerify {
		// A signature vouches for every byte the index reaches: check
		// every digest first, so that a blob changed since the push
		// (a byte flipped on the stick) is never signed.
		// What the store lacks is another matter: a delta (push
		// --inventory) carries only what the inside lacks.
		rep, err := bundle.Check(ctx, st, desc, bundle.CheckOptions{})
		if err != nil && (rep == nil || len(rep.Problems) == 0) {
			return fmt.Errorf("%s (%s): checking before signing: %w", ref, desc.Digest, err)
		}
		var bad []error
		absent := 0
		for _, p := range rep.Problems {
			if errors.Is(p.Err, errdef.ErrNotFound) {
				absent++
			} else {
				bad = append(bad, p)
			}
		}
		if len(bad) > 0 {
			return fmt.Errorf("%s (%s): not signed: %d of its blobs or manifests do not match their digests (--no-verify signs anyway): %w",
				ref, desc.Digest, len(bad), errors.Join(append([]error{bundle.ErrIntegrity}, bad...)...))
		}
		if absent > 0 && !o.Quiet {
			fmt.Fprintf(f.Err, "note: %s lacks %d of the bundle's blobs or manifests (a delta carries only what the inside lacks); what it holds matches its digests\n",
				ref.Location(), absent)
		}
	}
	dockerRef := ""
	if ref.Kind == store.Remote {
		dockerRef = ref.Registry + "/" + ref.Repository
	}
	sigDesc, err := trust.Sign(ctx, st, desc, signer, trust.SignOptions{
		DockerReference: dockerRef, Bundle: o.Format == "bundle", Annotations: ann, Tag: br.Tag})
	if err != nil {
		return fmt.Errorf("%s: signing: %w", ref, err)
	}
	if err := st.Close(); err != nil {
		return err
	}
	sum := signJSON{Bundle: ref.String(), Digest: desc.Digest.String(), Key: o.Key, KeyID: trust.KeyID(pub),
		Signature: sigDesc.Digest.String(), SigTag: trust.SignatureTag(desc.Digest), Format: o.Format, Tag: br.Tag}
	if o.JSON {
		writeJSON(f, sum)
		return nil
	}
	if !o.Quiet {
		forTag := "for no tag (signed by digest)"
		if br.Tag != "" {
			forTag = "for tag " + br.Tag
		}
		fmt.Fprintf(f.Err, "signed %s (%s) %s with key %s\nsignature %s in %s\n",
			ref, desc.Digest, forTag, sum.KeyID, sum.SigTag, ref.Location())
		if o.Format == "bundle" {
			fmt.Fprintf(f.Err, "Sigstore bundle referrer listed in %s\n", trust.ReferrersTag(desc.Digest))
		}
	}
	return nil
}

// signTarget is what sign and attest act on: the loaded key, the open
// store and the bundle that STORE:TAG (or STORE@DIGEST) names, resolved
// once: its digest is what gets signed and named from then on.
type signTarget struct {
	signer trust.Signer
	pub    crypto.PublicKey
	st     *store.Store
	ref    store.Reference
	br     shelf.Ref
}

// openSignTarget checks the key and reference flags, loads the key first
// (a wrong password costs no lock and no request), then opens the store
// and finds the bundle. The caller closes t.st.
func openSignTarget(ctx context.Context, f *Factory, verb, refArg, key string, keyPasswordStdin bool, sf *storeFlags) (*signTarget, error) {
	if key == "" {
		return nil, usagef("--key is required")
	}
	if keyPasswordStdin && sf.passwordStdin {
		return nil, usagef("--key-password-stdin and --password-stdin (the registry's) cannot both read standard input")
	}
	ref, err := store.ParseReference(refArg)
	if err != nil {
		return nil, usageError{err}
	}
	if ref.Tag == "" {
		return nil, usagef("%s needs STORE:TAG or STORE@DIGEST: which bundle? (see shoebox ls %s)", verb, refArg)
	}
	signer, err := trust.LoadSigner(ctx, key, passwordSource(f, keyPasswordStdin))
	if err != nil {
		return nil, err
	}
	pub, err := trust.SignerPublicKey(ctx, signer)
	if err != nil {
		return nil, fmt.Errorf("key %s: reading public key: %w", key, err)
	}
	if ref.Kind == store.Layout && !layoutExists(ref.Path) {
		return nil, fmt.Errorf("layout %s: no OCI layout there: %w", ref.Path, errNotFoundCLI)
	}
	st, ref, err := sf.open(ctx, f, refArg, false)
	if err != nil {
		return nil, err
	}
	br, err := shelf.Find(ctx, st, ref.Tag)
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("%s: %w", ref, err)
	}
	return &signTarget{signer: signer, pub: pub, st: st, ref: ref, br: br}, nil
}
