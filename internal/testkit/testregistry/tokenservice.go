package testregistry

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Harbor's names for its token service, as its registry is configured
// (auth.token in the registry's config.yml).
const (
	// TokenIssuer is the "iss" of every token and the registry's
	// auth.token.issuer.
	TokenIssuer = "harbor-token-issuer"
	// TokenServiceName is the "service" of the Bearer challenge and the
	// "aud" of every token.
	TokenServiceName = "harbor-registry"
	// TokenPath is where Harbor's core answers token requests.
	TokenPath = "/service/token"
)

// TokenConfig configures a TokenService: Harbor's projects and accounts.
type TokenConfig struct {
	// Projects are Harbor projects: a repository "P/REPO…" lives in
	// project P. A repository in a project not listed here gets no access
	// (Harbor grants nothing for a project that does not exist).
	Projects []Project `json:"projects"`
	// Accounts are users and robot accounts ("robot$julia+importer"), by
	// name.
	Accounts map[string]Account `json:"accounts"`
	// Expiry is how long a token is valid; 0 means Harbor's default, 30
	// minutes.
	Expiry time.Duration `json:"expiry,omitempty"`
}

// Project is a Harbor project.
type Project struct {
	Name string `json:"name"`
	// Public projects give pull to everyone, anonymous clients included.
	Public bool `json:"public,omitempty"`
}

// Account is a Harbor user or robot account.
type Account struct {
	// Secret is the password (a robot account's secret).
	Secret string `json:"secret"`
	// Permissions maps a project name to the repository actions the
	// account has in it: "pull", "push", "delete".
	Permissions map[string][]string `json:"permissions,omitempty"`
	// Admin is a system administrator: it may also list the catalog.
	Admin bool `json:"admin,omitempty"`
}

// ResourceActions is one entry of a token's "access" claim (the
// distribution token specification's resource scope).
type ResourceActions struct {
	Type    string   `json:"type"`
	Name    string   `json:"name"`
	Actions []string `json:"actions"`
}

// TokenGrant records one token the service issued: to whom, for which
// requested scopes, with which access.
type TokenGrant struct {
	// Account is the authenticated account, "" for an anonymous request.
	Account string
	// Scopes are the scope parameters as requested, split on spaces.
	Scopes []string
	// Access is what the token grants.
	Access []ResourceActions
}

// TokenService is a test double of Harbor core's token service (GET
// /service/token): it authenticates the basic credentials of a user or
// robot account, grants each requested repository scope the actions the
// account has in the repository's project (whatever actions were asked
// for, as Harbor does; pull for everyone in a public project; nothing in
// a project that does not exist), grants the catalog to administrators
// only, and signs an RS256 JWT the distribution registry verifies against
// the certificate of RootCertPEM (auth.token.rootcertbundle), with the key
// id the registry derives from it. Like Harbor it answers 401 to wrong
// credentials and to an anonymous request without a scope, 400 to another
// service, and {"token", "expires_in", "issued_at"} otherwise.
//
// The registry stays the real one: only the token service is a double.
// A TokenService is safe for concurrent use.
type TokenService struct {
	cfg      TokenConfig
	projects map[string]Project
	key      *rsa.PrivateKey
	certPEM  []byte
	kid      string
	now      func() time.Time

	// mu guards grants; ServeHTTP appends, Grants copies.
	mu     sync.Mutex
	grants []TokenGrant
}

// NewTokenService returns a token service signing with key (RSA, as
// Harbor's core; a self-signed certificate for it is made here).
func NewTokenService(cfg TokenConfig, key *rsa.PrivateKey) (*TokenService, error) {
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: TokenIssuer},
		NotBefore:             time.Unix(0, 0),
		NotAfter:              time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("token service: certificate: %w", err)
	}
	s := &TokenService{cfg: cfg, projects: map[string]Project{}, key: key, now: time.Now,
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		kid:     jwkThumbprint(&key.PublicKey)}
	for _, p := range cfg.Projects {
		s.projects[p.Name] = p
	}
	return s, nil
}

// GenerateTokenKey makes the RSA key a token service signs with.
func GenerateTokenKey() (*rsa.PrivateKey, error) {
	return rsa.GenerateKey(rand.Reader, 2048)
}

// RootCertPEM is the certificate the registry trusts for tokens
// (auth.token.rootcertbundle).
func (s *TokenService) RootCertPEM() []byte { return s.certPEM }

// Grants returns the tokens issued so far, oldest first.
func (s *TokenService) Grants() []TokenGrant {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.grants)
}

// ServeHTTP answers GET /service/token.
func (s *TokenService) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != TokenPath {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	if svc := q.Get("service"); svc != TokenServiceName {
		http.Error(w, "Unable to handle service: "+svc, http.StatusBadRequest)
		return
	}
	var account string
	var acct Account
	if user, pass, ok := r.BasicAuth(); ok {
		a, known := s.cfg.Accounts[user]
		if !known || a.Secret != pass {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		account, acct = user, a
	} else if r.Header.Get("Authorization") != "" {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	var scopes []string
	for _, sc := range q["scope"] {
		for f := range strings.FieldsSeq(sc) {
			scopes = append(scopes, f)
		}
	}
	if account == "" && len(scopes) == 0 {
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	access := make([]ResourceActions, 0, len(scopes))
	for _, sc := range scopes {
		ra := parseScope(sc)
		switch ra.Type {
		case "repository":
			project, _, ok := strings.Cut(ra.Name, "/")
			if !ok {
				// Harbor cannot parse a repository outside a project.
				http.Error(w, "Unable to parse image from string: "+ra.Name, http.StatusInternalServerError)
				return
			}
			ra.Actions = s.actions(account != "", acct, project)
		case "registry":
			if ra.Name != "catalog" {
				http.Error(w, fmt.Sprintf("Unable to handle, type: %s, name: %s", ra.Type, ra.Name), http.StatusInternalServerError)
				return
			}
			if !acct.Admin {
				ra.Actions = []string{}
			}
		default:
			ra.Actions = []string{}
		}
		access = append(access, ra)
	}
	now := s.now().UTC()
	expiry := s.cfg.Expiry
	if expiry <= 0 {
		expiry = 30 * time.Minute
	}
	tok, err := s.sign(account, access, now, expiry)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	s.grants = append(s.grants, TokenGrant{Account: account, Scopes: scopes, Access: access})
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(struct {
		Token     string `json:"token"`
		ExpiresIn int    `json:"expires_in"`
		IssuedAt  string `json:"issued_at"`
	}{tok, int(expiry / time.Second), now.Format(time.RFC3339)})
}

// parseScope splits "type:name:actions" the way Harbor does: the name may
// hold colons (a port), the actions are the last field.
func parseScope(s string) ResourceActions {
	items := strings.Split(s, ":")
	ra := ResourceActions{Actions: []string{}}
	switch len(items) {
	case 1:
		ra.Type = items[0]
	case 2:
		ra.Type, ra.Name = items[0], items[1]
	default:
		ra.Type = items[0]
		ra.Name = strings.Join(items[1:len(items)-1], ":")
		if last := items[len(items)-1]; last != "" {
			ra.Actions = strings.Split(last, ",")
		}
	}
	return ra
}

// actions are what an account may do in a project's repositories: its
// permissions there, pull for everyone in a public project, and "*" when
// it holds pull, push and delete (as Harbor adds for notary).
func (s *TokenService) actions(authenticated bool, a Account, project string) []string {
	p, ok := s.projects[project]
	if !ok {
		return []string{}
	}
	set := map[string]bool{}
	if p.Public {
		set["pull"] = true
	}
	if authenticated {
		for _, act := range a.Permissions[project] {
			if act == "pull" || act == "push" || act == "delete" {
				set[act] = true
			}
		}
	}
	if set["pull"] && set["push"] && set["delete"] {
		set["*"] = true
	}
	out := make([]string, 0, len(set))
	for act := range set {
		out = append(out, act)
	}
	slices.Sort(out)
	return out
}

// sign makes the JWT: RS256, the key id the registry computes from the
// root certificate's key (its JWK thumbprint, RFC 7638).
func (s *TokenService) sign(subject string, access []ResourceActions, now time.Time, expiry time.Duration) (string, error) {
	header, err := json.Marshal(map[string]string{"typ": "JWT", "alg": "RS256", "kid": s.kid})
	if err != nil {
		return "", err
	}
	jti := make([]byte, 12)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	claims, err := json.Marshal(map[string]any{
		"iss": TokenIssuer, "sub": subject, "aud": TokenServiceName,
		"exp": now.Add(expiry).Unix(), "nbf": now.Unix(), "iat": now.Unix(),
		"jti": base64.RawURLEncoding.EncodeToString(jti), "access": access,
	})
	if err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(header) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(payload))
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("token service: signing: %w", err)
	}
	return payload + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// jwkThumbprint is the RFC 7638 SHA-256 thumbprint of an RSA public key,
// the key id distribution's token access controller assigns to the keys
// of its root certificates.
func jwkThumbprint(pub *rsa.PublicKey) string {
	e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes())
	n := base64.RawURLEncoding.EncodeToString(pub.N.Bytes())
	sum := sha256.Sum256(fmt.Appendf(nil, `{"e":"%s","kty":"RSA","n":"%s"}`, e, n))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}
