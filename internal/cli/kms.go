package cli

import (
	"context"
	"crypto"

	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	// HashiCorp Vault (and OpenBao) transit keys: hashivault://KEYNAME.
	// The provider reads VAULT_ADDR, VAULT_TOKEN and friends itself.
	_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"

	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// kmsSchemes are the KMS URI prefixes shoebox signs with, through sigstore's
// providers. pkg/trust stays free of KMS clients and environment reads; the
// binary wires them in here.
var kmsSchemes = []string{"hashivault://"}

func init() {
	for _, p := range kmsSchemes {
		trust.RegisterKMS(p, func(ctx context.Context, ref string) (signature.Signer, error) {
			return kms.Get(ctx, ref, crypto.SHA256)
		})
	}
}
