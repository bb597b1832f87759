// Command pkginstall does what Julia's Pkg does for `Pkg.instantiate()` of
// a manifest in a fresh depot, against a Pkg server, with the Pkg-faithful
// client of internal/testkit/pkgclient (no Julia binary is needed): for
// the e2e suite and scripts.
//
//	pkginstall -server http://HOST:PORT -manifest Manifest.toml [-depot DIR] [-registry UUID]
//
// The registry is installed first: General and every served registry when
// the server lists General (Pkg's first run), else the -registry uuid (as
// Pkg.Registry.add). It prints a JSON summary (packages and artifacts
// installed, the requests made with their statuses) and exits 1 on any
// error, naming the item and the cause.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"

	"github.com/shoebox-jl/shoebox/internal/testkit/pkgclient"
	"github.com/shoebox-jl/shoebox/pkg/julia"
)

type summary struct {
	Server    string   `json:"server"`
	Packages  int      `json:"packages"`
	Artifacts int      `json:"artifacts"`
	Requests  []string `json:"requests"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "pkginstall:", err)
		os.Exit(1)
	}
}

func run() error {
	server := flag.String("server", "", "the Pkg server, as JULIA_PKG_SERVER holds it")
	manifest := flag.String("manifest", "", "the Manifest.toml to instantiate")
	depot := flag.String("depot", "", "the depot (default: a new temporary directory, removed at the end)")
	registry := flag.String("registry", "", "the registry uuid to add when the server does not list General")
	julia13 := flag.String("julia-version", "", "the simulated Julia version (default 1.13.0)")
	flag.Parse()
	if *server == "" || *manifest == "" {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	b, err := os.ReadFile(*manifest)
	if err != nil {
		return err
	}
	m, err := julia.ParseManifest(*manifest, b)
	if err != nil {
		return err
	}
	dir := *depot
	if dir == "" {
		if dir, err = os.MkdirTemp("", "pkginstall-depot-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	c, err := pkgclient.New(*server, pkgclient.Options{Depot: dir, JuliaVersion: *julia13})
	if err != nil {
		return err
	}
	served, err := c.FetchRegistries(ctx)
	if err != nil {
		return err
	}
	if _, ok := served[pkgclient.GeneralUUID]; ok {
		err = c.InstallDefaultRegistries(ctx)
	} else if *registry != "" {
		var u julia.UUID
		if u, err = julia.ParseUUID(*registry); err == nil {
			err = c.AddRegistry(ctx, u)
		}
	} else {
		err = fmt.Errorf("%s lists no General registry: give -registry UUID", c.Base())
	}
	if err != nil {
		return err
	}
	res, err := c.Instantiate(ctx, m)
	s := summary{Server: c.Base(), Requests: []string{}}
	for _, r := range c.Requests() {
		s.Requests = append(s.Requests, r.String())
	}
	if res != nil {
		s.Packages, s.Artifacts = len(res.Packages), len(res.Artifacts)
	}
	if err != nil {
		return fmt.Errorf("%w (requests: %v)", err, s.Requests)
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(s)
}
