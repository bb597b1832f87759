// Package testregistry runs an in-process OCI registry for tests: the
// distribution registry (github.com/distribution/distribution/v3, the
// engine inside Harbor) with the in-memory storage driver, on an httptest
// server bound to 127.0.0.1, optionally with TLS, htpasswd basic auth, or
// Harbor's bearer token auth (a TokenService, the double of Harbor core's
// token service, answering /service/token on the same host as Harbor's
// does; the registry is configured as Harbor configures it).
// Like every distribution release it has no referrers API, so clients
// exercise the referrers tag-schema fallback.
//
// Only _test.go files may import this package: it pulls in distribution's
// dependency tree, which must stay out of the shoebox binary.
package testregistry

import (
	"context"
	"crypto/rsa"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/sirupsen/logrus"
	"golang.org/x/crypto/bcrypt"

	// Registered by import: the htpasswd and token access controllers and
	// the in-memory storage driver.
	_ "github.com/distribution/distribution/v3/registry/auth/htpasswd"
	_ "github.com/distribution/distribution/v3/registry/auth/token"
	_ "github.com/distribution/distribution/v3/registry/storage/driver/inmemory"
)

// Options configure New. The zero value is a plain-HTTP registry without
// authentication.
type Options struct {
	// TLS serves HTTPS with a self-signed certificate for 127.0.0.1; see
	// CAFile and Client.
	TLS bool
	// Htpasswd enables basic auth with these user → password pairs.
	Htpasswd map[string]string
	// Token enables Harbor's bearer token auth with these projects and
	// accounts (see TokenService; Registry.Tokens has its grants). It
	// excludes Htpasswd.
	Token *TokenConfig
	// Handler, if set, wraps the registry handler (fault injection: 500s,
	// connection resets, request counting).
	Handler func(http.Handler) http.Handler
}

// Registry is a running test registry. It stops when the test ends.
type Registry struct {
	srv    *httptest.Server
	caFile string
	tokens *TokenService
}

var (
	tokenKeyOnce sync.Once
	tokenKey     *rsa.PrivateKey
	tokenKeyErr  error
)

// sharedTokenKey is one RSA key for every token service of the test
// binary (generating one per test would cost more than the test).
func sharedTokenKey() (*rsa.PrivateKey, error) {
	tokenKeyOnce.Do(func() { tokenKey, tokenKeyErr = GenerateTokenKey() })
	return tokenKey, tokenKeyErr
}

var quietOnce sync.Once

// quiet silences distribution's logrus output for the whole test binary.
func quiet() {
	quietOnce.Do(func() {
		logrus.SetOutput(io.Discard)
		logrus.SetLevel(logrus.PanicLevel)
	})
}

// New starts a registry and registers its shutdown with t.Cleanup.
func New(t testing.TB, opts Options) *Registry {
	t.Helper()
	quiet()
	dir := t.TempDir()

	config := &configuration.Configuration{}
	config.Log.AccessLog.Disabled = true
	config.Log.Level = "panic"
	config.HTTP.Secret = "shoebox-testregistry"
	config.Storage = configuration.Storage{
		"inmemory": configuration.Parameters{},
		"maintenance": configuration.Parameters{
			"uploadpurging": map[any]any{"enabled": false},
		},
		"delete": configuration.Parameters{"enabled": true},
	}
	if len(opts.Htpasswd) > 0 {
		path := filepath.Join(dir, "htpasswd")
		if err := os.WriteFile(path, htpasswd(t, opts.Htpasswd), 0o600); err != nil {
			t.Fatalf("testregistry: writing htpasswd: %v", err)
		}
		config.Auth = configuration.Auth{
			"htpasswd": configuration.Parameters{"realm": "shoebox-test", "path": path},
		}
	}

	// The listener exists before the server starts: the token realm
	// names it.
	var root handlerVar
	srv := httptest.NewUnstartedServer(&root)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // TLS handshake noise
	r := &Registry{srv: srv}
	if opts.Token != nil {
		if len(opts.Htpasswd) > 0 {
			t.Fatal("testregistry: Token and Htpasswd exclude each other")
		}
		key, err := sharedTokenKey()
		if err != nil {
			t.Fatalf("testregistry: token key: %v", err)
		}
		if r.tokens, err = NewTokenService(*opts.Token, key); err != nil {
			t.Fatalf("testregistry: %v", err)
		}
		certs := filepath.Join(dir, "token-root.pem")
		if err := os.WriteFile(certs, r.tokens.RootCertPEM(), 0o600); err != nil {
			t.Fatalf("testregistry: writing the token root certificate: %v", err)
		}
		scheme := "http"
		if opts.TLS {
			scheme = "https"
		}
		config.Auth = configuration.Auth{"token": configuration.Parameters{
			"realm":          scheme + "://" + srv.Listener.Addr().String() + TokenPath,
			"service":        TokenServiceName,
			"issuer":         TokenIssuer,
			"rootcertbundle": certs,
		}}
	}

	ctx, cancel := context.WithCancel(context.Background())
	app := handlers.NewApp(ctx, config)
	var h http.Handler = app
	if r.tokens != nil {
		mux := http.NewServeMux()
		mux.Handle(TokenPath, r.tokens)
		mux.Handle("/", app)
		h = mux
	}
	if opts.Handler != nil {
		h = opts.Handler(h)
	}
	root.h = h
	if opts.TLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		cancel()
	})
	if opts.TLS {
		r.caFile = filepath.Join(dir, "ca.pem")
		block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
		if err := os.WriteFile(r.caFile, block, 0o600); err != nil {
			t.Fatalf("testregistry: writing CA file: %v", err)
		}
	}
	return r
}

func htpasswd(t testing.TB, users map[string]string) []byte {
	t.Helper()
	names := make([]string, 0, len(users))
	for u := range users {
		names = append(names, u)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, u := range names {
		// MinCost keeps tests fast; the registry accepts any bcrypt cost.
		h, err := bcrypt.GenerateFromPassword([]byte(users[u]), bcrypt.MinCost)
		if err != nil {
			t.Fatalf("testregistry: bcrypt: %v", err)
		}
		fmt.Fprintf(&b, "%s:%s\n", u, h)
	}
	return []byte(b.String())
}

// handlerVar is a handler set after the server was made.
type handlerVar struct{ h http.Handler }

func (v *handlerVar) ServeHTTP(w http.ResponseWriter, r *http.Request) { v.h.ServeHTTP(w, r) }

// Tokens returns the token service (Options.Token), nil otherwise.
func (r *Registry) Tokens() *TokenService { return r.tokens }

// Host returns "127.0.0.1:PORT", the registry part of a reference.
func (r *Registry) Host() string { return r.srv.Listener.Addr().String() }

// URL returns the base URL, "http://127.0.0.1:PORT" or "https://…".
func (r *Registry) URL() string { return r.srv.URL }

// CAFile returns the path of a PEM file holding the server certificate
// (TLS only; "" otherwise).
func (r *Registry) CAFile() string { return r.caFile }

// Client returns an HTTP client that trusts the server certificate.
func (r *Registry) Client() *http.Client { return r.srv.Client() }
