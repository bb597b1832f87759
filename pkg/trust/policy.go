package trust

import (
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// TrustedKey is a public key a Policy trusts.
type TrustedKey struct {
	// Name labels the key in results; it may be empty.
	Name string
	// PublicKey is the key (*ecdsa.PublicKey, ed25519.PublicKey, *rsa.PublicKey).
	PublicKey crypto.PublicKey
	// ID is KeyID(PublicKey).
	ID string
}

// Policy says which keys are trusted and how many must sign.
// A Policy is not modified by Verify and may be shared between goroutines.
type Policy struct {
	Keys []TrustedKey
	// Threshold is how many distinct trusted keys must sign (k of n);
	// 0 means 1.
	Threshold int
	// Tags are path.Match glob patterns of the tags this policy covers;
	// empty means every bundle. A bundle is covered only by signatures
	// that name, inside the signed data (AnnotationTag), a tag matching
	// one of them: a tag in a store, which anyone who can write the store
	// can rename or add, never counts. See Verify and Covers.
	Tags []string
	// RequireAttestations lists the attestations a bundle must carry,
	// each signed by one of Keys: "cyclonedx", "spdxjson" (cosign's --type
	// names) or a predicate type URI. Empty requires none.
	RequireAttestations []string
}

// maxPolicySize bounds a policy file.
const maxPolicySize = 1 << 20

// policyFile is the TOML form of a policy:
//
//	threshold = 2                 # optional, default 1
//	tags = ["release-*"]          # optional, default all
//	require_attestations = ["cyclonedx"]  # optional: signed SBOM attestations
//	[[keys]]
//	name = "ops"
//	path = "ops.pub"              # relative to the policy file's directory
//	[[keys]]
//	name = "security"
//	id = "3f2a…"                  # optional pin: KeyID of the key
//	pem = """
//	-----BEGIN PUBLIC KEY-----
//	…
//	-----END PUBLIC KEY-----
//	"""
type policyFile struct {
	Threshold           int             `toml:"threshold"`
	Tags                []string        `toml:"tags"`
	RequireAttestations []string        `toml:"require_attestations"`
	Keys                []policyFileKey `toml:"keys"`
}

type policyFileKey struct {
	Name string `toml:"name"`
	Path string `toml:"path"`
	PEM  string `toml:"pem"`
	ID   string `toml:"id"`
}

// ParsePolicy reads a TOML trust policy (see the policyFile layout in the
// package documentation). Key paths are resolved relative to baseDir
// (usually the policy file's directory); absolute paths are used as given.
// Unknown fields are errors, so a typo cannot weaken a policy.
func ParsePolicy(r io.Reader, baseDir string) (*Policy, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxPolicySize+1))
	if err != nil {
		return nil, fmt.Errorf("reading trust policy: %w", err)
	}
	if len(data) > maxPolicySize {
		return nil, fmt.Errorf("trust policy: larger than %d bytes", maxPolicySize)
	}
	var pf policyFile
	dec := toml.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pf); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			var keys []string
			for _, e := range sm.Errors {
				keys = append(keys, strings.Join(e.Key(), "."))
			}
			return nil, fmt.Errorf("trust policy: unknown field(s) %s", strings.Join(keys, ", "))
		}
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, col := de.Position()
			return nil, fmt.Errorf("trust policy: line %d column %d: %w", row, col, err)
		}
		return nil, fmt.Errorf("trust policy: %w", err)
	}
	p := &Policy{Threshold: pf.Threshold, Tags: pf.Tags, RequireAttestations: pf.RequireAttestations}
	for i, k := range pf.Keys {
		where := fmt.Sprintf("trust policy: key %d", i+1)
		if k.Name != "" {
			where += fmt.Sprintf(" (%s)", k.Name)
		}
		var pemBytes []byte
		switch {
		case k.Path != "" && k.PEM != "":
			return nil, fmt.Errorf("%s: both path and pem given", where)
		case k.Path != "":
			fp := k.Path
			if !filepath.IsAbs(fp) {
				fp = filepath.Join(baseDir, fp)
			}
			pemBytes, err = readSmallFile(fp)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", where, err)
			}
		case k.PEM != "":
			pemBytes = []byte(k.PEM)
		default:
			return nil, fmt.Errorf("%s: neither path nor pem given", where)
		}
		pub, err := ParsePublicKey(pemBytes)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		tk := TrustedKey{Name: k.Name, PublicKey: pub, ID: KeyID(pub)}
		if k.ID != "" && !strings.EqualFold(k.ID, tk.ID) {
			return nil, fmt.Errorf("%s: key id is %s, policy pins %s", where, tk.ID, k.ID)
		}
		p.Keys = append(p.Keys, tk)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("trust policy: %w", err)
	}
	return p, nil
}

func readSmallFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > maxKeyFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxKeyFileSize)
	}
	return data, nil
}

// PolicyFromKeys is the policy "any one of these public keys" (PKIX PEMs),
// what verify --key K gives. Keys are named by their KeyID.
func PolicyFromKeys(pems ...[]byte) (*Policy, error) {
	p := &Policy{Threshold: 1}
	for i, b := range pems {
		pub, err := ParsePublicKey(b)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		p.Keys = append(p.Keys, TrustedKey{PublicKey: pub, ID: KeyID(pub)})
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// Validate checks that p can be satisfied: at least one key, distinct keys
// and names, 0 ≤ Threshold ≤ len(Keys), and well-formed tag patterns.
func (p *Policy) Validate() error {
	if len(p.Keys) == 0 {
		return errors.New("no keys")
	}
	ids := map[string]bool{}
	names := map[string]bool{}
	for i, k := range p.Keys {
		if k.PublicKey == nil {
			return fmt.Errorf("key %d: no public key", i+1)
		}
		id := KeyID(k.PublicKey)
		if id == "" {
			return fmt.Errorf("key %d: unsupported public key %T", i+1, k.PublicKey)
		}
		if ids[id] {
			return fmt.Errorf("key %d: listed twice (id %s)", i+1, id)
		}
		ids[id] = true
		if k.Name != "" {
			if names[k.Name] {
				return fmt.Errorf("key %d: name %q used twice", i+1, k.Name)
			}
			names[k.Name] = true
		}
	}
	if p.Threshold < 0 || p.Threshold > len(p.Keys) {
		return fmt.Errorf("threshold %d: must be between 1 and the number of keys (%d)", p.Threshold, len(p.Keys))
	}
	for _, t := range p.Tags {
		if _, err := path.Match(t, ""); err != nil {
			return fmt.Errorf("tag pattern %q: %w", t, err)
		}
	}
	for _, a := range p.RequireAttestations {
		if a != "cyclonedx" && a != "spdxjson" && a != "spdx" && !strings.Contains(a, "://") {
			return fmt.Errorf("require_attestations %q: want cyclonedx, spdxjson or a predicate type URI", a)
		}
	}
	return nil
}

func (p *Policy) threshold() int {
	if p.Threshold <= 0 {
		return 1
	}
	return p.Threshold
}

// Covers reports whether a tag matches the policy: Tags is empty, or tag
// matches one of its path.Match patterns. Verify applies it to the tags
// signatures were made for, never to tags found in a store.
func (p *Policy) Covers(tag string) bool {
	if len(p.Tags) == 0 {
		return true
	}
	for _, t := range p.Tags {
		if ok, _ := path.Match(t, tag); ok {
			return true
		}
	}
	return false
}

// coversSigned reports whether a signature made for tag (AnnotationTag;
// "" when it names none) counts under the policy: always without Tags,
// else when it names a tag that Covers.
func (p *Policy) coversSigned(tag string) bool {
	if len(p.Tags) == 0 {
		return true
	}
	return tag != "" && p.Covers(tag)
}
