package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// The binary routes hashivault:// keys to sigstore's Vault provider (no
// Vault server can run here: the provider is reached and fails to connect
// to the loopback address it is given, rather than the URI being unknown).
func TestKMS_HashivaultIsWired(t *testing.T) {
	registerKMS()
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	t.Setenv("VAULT_TOKEN", "test")
	s, err := trust.LoadSigner(context.Background(), "hashivault://shoebox-test", nil)
	if errors.Is(err, trust.ErrKMSNotRegistered) {
		t.Fatalf("hashivault:// is not registered: %v", err)
	}
	if err == nil {
		// The provider connects lazily: signing reaches for the server.
		_, err = s.SignMessage(strings.NewReader("payload"))
	}
	if err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Fatalf("signing with hashivault:// and no Vault: error = %v, want one naming 127.0.0.1:1", err)
	}
	_, err = trust.LoadSigner(context.Background(), "awskms://alias/x", nil)
	if !errors.Is(err, trust.ErrKMSNotRegistered) {
		t.Fatalf("awskms:// error = %v, want ErrKMSNotRegistered", err)
	}
}
