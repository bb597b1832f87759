package main

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
// providers. The libraries stay free of KMS clients and their environment
// reads, and internal/cli of sigstore: the binary wires them in here, the
// one place outside pkg/trust that imports sigstore.
var kmsSchemes = []string{"hashivault://"}

func registerKMS() {
	for _, p := range kmsSchemes {
		trust.RegisterKMS(p, func(ctx context.Context, ref string) (signature.Signer, error) {
			return kms.Get(ctx, ref, crypto.SHA256)
		})
	}
}
