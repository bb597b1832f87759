package trust

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/options"
)

// KeyAlgorithm names a key type GenerateKey can make.
type KeyAlgorithm string

// The key algorithms GenerateKey supports. Both are what cosign generates
// with generate-key-pair (--signing-algorithm ecdsa-sha2-256-nistp256 and
// ed25519).
const (
	// ECDSAP256 is ECDSA on NIST P-256 with SHA-256, cosign's default.
	ECDSAP256 KeyAlgorithm = "ecdsa-p256"
	// Ed25519 is pure Ed25519.
	Ed25519 KeyAlgorithm = "ed25519"
)

// PEM block types of private keys, as cosign and sigstore write them.
const (
	// PEMTypeEncryptedSigstore is what cosign (v2.x, v3.x) and sigstore's
	// cryptoutils write: PKCS#8 DER encrypted with scrypt + NaCl secretbox
	// in go-securesystemslib's JSON envelope.
	PEMTypeEncryptedSigstore = "ENCRYPTED SIGSTORE PRIVATE KEY"
	// PEMTypeEncryptedCosign is the legacy name of the same format.
	PEMTypeEncryptedCosign = "ENCRYPTED COSIGN PRIVATE KEY"
	pemTypePublicKey       = "PUBLIC KEY"
)

// maxKeyFileSize bounds how much of a key file is read.
const maxKeyFileSize = 1 << 20

// GenerateKey makes a new key pair. The private key is returned as PKCS#8
// encrypted with password exactly as cosign generate-key-pair writes it
// (PEM type "ENCRYPTED SIGSTORE PRIVATE KEY"), so cosign sign --key accepts
// it; an empty password is allowed, as in cosign. The public key is a PKIX
// "PUBLIC KEY" PEM. An empty alg means ECDSAP256.
func GenerateKey(alg KeyAlgorithm, password []byte) (privatePEM, publicPEM []byte, err error) {
	var priv crypto.Signer
	switch alg {
	case ECDSAP256, "":
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, nil, fmt.Errorf("key algorithm %q: unsupported (want %s or %s)", alg, ECDSAP256, Ed25519)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generating %s key: %w", alg, err)
	}
	if password == nil {
		password = []byte{}
	}
	enc, err := cryptoutils.MarshalPrivateKeyToEncryptedDER(priv, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting private key: %w", err)
	}
	publicPEM, err = cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encoding public key: %w", err)
	}
	privatePEM = pem.EncodeToMemory(&pem.Block{Type: PEMTypeEncryptedSigstore, Bytes: enc})
	return privatePEM, publicPEM, nil
}

// PassFunc returns the password of an encrypted private key. confirm asks
// for the password to be entered twice (used when a key is created). It is
// called only for encrypted keys.
type PassFunc func(confirm bool) ([]byte, error)

// KMSOpener opens a signer for a KMS key reference such as
// "hashivault://KEYNAME".
type KMSOpener func(ctx context.Context, ref string) (signature.Signer, error)

var (
	kmsMu sync.RWMutex // guards kmsOpeners
	// kmsOpeners maps a URI scheme prefix ("hashivault://") to its opener.
	kmsOpeners = map[string]KMSOpener{}
)

// RegisterKMS makes LoadSigner hand references that start with prefix
// (for example "hashivault://") to open. pkg/trust links no KMS client
// itself: the providers read their configuration from the environment
// (VAULT_ADDR, VAULT_TOKEN, ...), which a library must not do. A program
// wires one in, for instance with sigstore's provider:
//
//	import (
//		"github.com/sigstore/sigstore/pkg/signature/kms"
//		_ "github.com/sigstore/sigstore/pkg/signature/kms/hashivault"
//	)
//	trust.RegisterKMS("hashivault://", func(ctx context.Context, ref string) (signature.Signer, error) {
//		return kms.Get(ctx, ref, crypto.SHA256)
//	})
//
// It is safe for concurrent use.
func RegisterKMS(prefix string, open KMSOpener) {
	kmsMu.Lock()
	defer kmsMu.Unlock()
	if open == nil {
		delete(kmsOpeners, prefix)
		return
	}
	kmsOpeners[prefix] = open
}

// ErrKMSNotRegistered is returned by LoadSigner for a KMS URI whose scheme
// has no opener registered with RegisterKMS.
var ErrKMSNotRegistered = errors.New("no KMS provider registered for this scheme")

// Signer signs payloads: a loaded key or a KMS key (sigstore's
// signature.Signer, named here so that callers need not import sigstore).
type Signer = signature.Signer

// LoadSigner opens the signing key ref: a path to an encrypted private key
// file (shoebox's and cosign's "ENCRYPTED SIGSTORE PRIVATE KEY", the legacy
// "ENCRYPTED COSIGN PRIVATE KEY"), a path to an unencrypted PEM key
// (PKCS#8 "PRIVATE KEY", SEC 1 "EC PRIVATE KEY", PKCS#1 "RSA PRIVATE KEY"),
// or a KMS URI (scheme://...) handled by an opener given to RegisterKMS.
// pass is called once, without confirmation, for encrypted keys; a nil
// pass means the empty password.
//
// ECDSA and RSA keys sign with SHA-256 (RSA: PKCS #1 v1.5), Ed25519 keys
// with pure Ed25519, which is what cosign verify --key checks.
func LoadSigner(ctx context.Context, ref string, pass PassFunc) (signature.Signer, error) {
	if scheme, _, ok := strings.Cut(ref, "://"); ok && scheme != "" && !strings.ContainsAny(scheme, `/\.`) {
		kmsMu.RLock()
		var open KMSOpener
		for prefix, o := range kmsOpeners {
			if strings.HasPrefix(ref, prefix) {
				open = o
				break
			}
		}
		kmsMu.RUnlock()
		if open == nil {
			return nil, fmt.Errorf("key %s: %w", ref, ErrKMSNotRegistered)
		}
		s, err := open(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("key %s: %w", ref, err)
		}
		return s, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(ref)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("key %s: reading: %w", ref, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("key %s: larger than %d bytes", ref, maxKeyFileSize)
	}
	s, err := LoadPrivateKeyPEM(data, pass)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", ref, err)
	}
	return s, nil
}

// SignerPublicKey returns the public key of s; a KMS signer may ask its
// server for it, under ctx.
func SignerPublicKey(ctx context.Context, s signature.Signer) (crypto.PublicKey, error) {
	return s.PublicKey(options.WithContext(ctx))
}

// LoadPrivateKeyPEM is LoadSigner for the bytes of a PEM key file.
func LoadPrivateKeyPEM(data []byte, pass PassFunc) (signature.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var (
		priv any
		err  error
	)
	switch block.Type {
	case PEMTypeEncryptedSigstore, PEMTypeEncryptedCosign:
		pw := []byte{}
		if pass != nil {
			p, err := pass(false)
			if err != nil {
				return nil, fmt.Errorf("reading password: %w", err)
			}
			if p != nil {
				pw = p
			}
		}
		// cryptoutils decrypts both PEM types with go-securesystemslib's
		// encrypted.Decrypt (scrypt + secretbox), as cosign does.
		priv, err = cryptoutils.UnmarshalPEMToPrivateKey(pem.EncodeToMemory(block), cryptoutils.StaticPasswordFunc(pw))
		if err != nil {
			return nil, fmt.Errorf("decrypting private key (wrong password?): %w", err)
		}
	case "PRIVATE KEY":
		priv, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		priv, err = x509.ParseECPrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unsupported PEM type %q", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	return signerFor(priv)
}

func signerFor(priv any) (signature.Signer, error) {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		if err := checkPublicKey(k.Public()); err != nil {
			return nil, fmt.Errorf("ecdsa key: %w", err)
		}
		return signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	case ed25519.PrivateKey:
		return signature.LoadED25519SignerVerifier(k)
	case *rsa.PrivateKey:
		if err := checkPublicKey(k.Public()); err != nil {
			return nil, fmt.Errorf("rsa key: %w", err)
		}
		return signature.LoadRSAPKCS1v15SignerVerifier(k, crypto.SHA256)
	default:
		return nil, fmt.Errorf("unsupported private key type %T", priv)
	}
}

// ParsePublicKey decodes a PKIX "PUBLIC KEY" PEM (cosign.pub) and checks
// that the key is usable (supported type, sane size and curve).
func ParsePublicKey(publicPEM []byte) (crypto.PublicKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(bytes.TrimSpace(publicPEM))
	if err != nil {
		return nil, fmt.Errorf("parsing public key: %w", err)
	}
	if err := checkPublicKey(pub); err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return pub, nil
}

// checkPublicKey accepts the keys cosign signs with: ECDSA on P-256, P-384
// or P-521, Ed25519, and RSA of at least 2048 bits. (sigstore's
// cryptoutils.ValidatePubKey did this and is deprecated.)
func checkPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("unsupported ECDSA curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("ed25519 key of %d bytes", len(k))
		}
		return nil
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return fmt.Errorf("RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
		return nil
	}
	return fmt.Errorf("unsupported public key type %T", pub)
}

// LoadVerifier returns a verifier for a PKIX public key PEM. ECDSA and RSA
// keys verify SHA-256 signatures (RSA: PKCS #1 v1.5), as cosign verify
// --key does. Ed25519 keys accept pure Ed25519 and, failing that, Ed25519ph
// (cosign signs with Ed25519ph when it uploads to a transparency log).
func LoadVerifier(publicPEM []byte) (signature.Verifier, error) {
	pub, err := ParsePublicKey(publicPEM)
	if err != nil {
		return nil, err
	}
	return verifierFor(pub)
}

func verifierFor(pub crypto.PublicKey) (signature.Verifier, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		pure, err := signature.LoadED25519Verifier(k)
		if err != nil {
			return nil, err
		}
		ph, err := signature.LoadED25519phVerifier(k)
		if err != nil {
			return nil, err
		}
		return ed25519Verifier{pure: pure, ph: ph}, nil
	default:
		return signature.LoadVerifier(pub, crypto.SHA256)
	}
}

// ed25519Verifier accepts pure Ed25519 and Ed25519ph signatures.
type ed25519Verifier struct {
	pure *signature.ED25519Verifier
	ph   *signature.ED25519phVerifier
}

func (v ed25519Verifier) PublicKey(opts ...signature.PublicKeyOption) (crypto.PublicKey, error) {
	return v.pure.PublicKey(opts...)
}

func (v ed25519Verifier) VerifySignature(sig, message io.Reader, opts ...signature.VerifyOption) error {
	s, err := io.ReadAll(io.LimitReader(sig, 1<<16))
	if err != nil {
		return err
	}
	m, err := io.ReadAll(message)
	if err != nil {
		return err
	}
	err = v.pure.VerifySignature(bytes.NewReader(s), bytes.NewReader(m), opts...)
	if err == nil {
		return nil
	}
	if v.ph.VerifySignature(bytes.NewReader(s), bytes.NewReader(m), opts...) == nil {
		return nil
	}
	return err
}

// KeyID identifies a public key: the hex SHA-256 of its PKIX DER encoding.
// It is used in policies and output. It returns "" for a key that cannot
// be encoded.
func KeyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// keyHint is the Sigstore bundle's verificationMaterial.publicKey.hint as
// cosign writes it: base64 (standard, padded) of the SHA-256 of the PKIX DER.
func keyHint(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// PublicKeyPEM encodes a public key as a PKIX "PUBLIC KEY" PEM, the
// format of cosign.pub.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return b, nil
}
