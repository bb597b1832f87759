// Command tokenservice runs testregistry's double of Harbor core's token
// service (GET /service/token) for the e2e suite, in front of a real
// distribution registry configured with token auth:
//
//	tokenservice -addr 127.0.0.1:PORT -config harbor.json -root-cert root.pem [-tls-cert C -tls-key K]
//
// harbor.json is a testregistry.TokenConfig: projects, and accounts with
// their secrets and per-project actions. root-cert receives the
// certificate the registry trusts (auth.token.rootcertbundle); the
// registry's auth.token is then realm=http(s)://ADDR/service/token,
// service=harbor-registry, issuer=harbor-token-issuer. Each token issued
// is logged on standard error as one JSON line (account, scopes, access).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"sync"

	"github.com/shoebox-jl/shoebox/internal/testkit/testregistry"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tokenservice:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	config := flag.String("config", "", "projects and accounts (JSON, testregistry.TokenConfig)")
	rootCert := flag.String("root-cert", "", "write the token signing certificate here (PEM)")
	tlsCert := flag.String("tls-cert", "", "serve HTTPS with this certificate")
	tlsKey := flag.String("tls-key", "", "the key of -tls-cert")
	flag.Parse()
	if *config == "" || *rootCert == "" {
		flag.Usage()
		os.Exit(2)
	}
	b, err := os.ReadFile(*config)
	if err != nil {
		return err
	}
	var cfg testregistry.TokenConfig
	if err := json.Unmarshal(b, &cfg); err != nil {
		return fmt.Errorf("%s: %w", *config, err)
	}
	key, err := testregistry.GenerateTokenKey()
	if err != nil {
		return err
	}
	ts, err := testregistry.NewTokenService(cfg, key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(*rootCert, ts.RootCertPEM(), 0o644); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	logger := log.New(os.Stderr, "", 0)
	enc := json.NewEncoder(os.Stderr)
	var mu sync.Mutex // guards n and the log; taken by every request
	n := 0
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.ServeHTTP(w, r)
		// Grants is cumulative: log what is new.
		mu.Lock()
		defer mu.Unlock()
		g := ts.Grants()
		for ; n < len(g); n++ {
			_ = enc.Encode(g[n])
		}
	})
	logger.Printf("listening on %s", ln.Addr())
	srv := &http.Server{Handler: h}
	if *tlsCert != "" {
		err = srv.ServeTLS(ln, *tlsCert, *tlsKey)
	} else {
		err = srv.Serve(ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
