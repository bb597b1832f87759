// Command ocischema validates OCI manifests and indexes against the JSON
// schemas of the OCI image-spec (github.com/opencontainers/image-spec/schema),
// in an OCI image layout directory or in a registry. It is an e2e helper, not
// part of shoebox.
//
//	go run ./hack/ocischema LAYOUT_DIR...
//	go run ./hack/ocischema --registry 127.0.0.1:5000/repo:tag [--plain-http] [--ca-file F] [--user U:P]
//
// Layout mode checks the oci-layout file and index.json against their schemas,
// then walks every descriptor from index.json: each blob must exist with the
// descriptor's size and digest; each manifest and index is validated against
// its schema, its mediaType must agree with the descriptor, and its children
// are walked in turn. Blobs that index.json does not reach (cosign v3 stores
// bundle referrers that way) are validated too when they are JSON manifests
// or indexes. A missing subject is a warning (referrers may outlive it).
//
// Registry mode fetches the reference's manifest and walks it the same way
// over the distribution API (manifests by digest, blobs by HEAD).
//
// Exit status: 0 all valid, 1 a problem (each printed as "FAIL <blob>: <why>"), 2 usage.
package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/schema"
	v1 "github.com/opencontainers/image-spec/specs-go/v1"
)

const (
	dockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
	maxManifestSize    = 4 << 20
)

// source reads blobs and manifests by digest.
type source interface {
	// manifest returns the bytes of the manifest or index with that digest.
	manifest(d v1.Descriptor) ([]byte, error)
	// blob checks that a non-manifest blob exists with the descriptor's size (and digest, where cheap).
	blob(d v1.Descriptor) error
	// name names a blob in messages.
	name(d digest.Digest) string
}

type checker struct {
	src     source
	seen    map[digest.Digest]bool
	fails   int
	warns   int
	nMan    int
	nIdx    int
	nBlob   int
	verbose bool
}

func (c *checker) fail(what string, format string, args ...any) {
	c.fails++
	fmt.Printf("FAIL %s: %s\n", what, fmt.Sprintf(format, args...))
}

func (c *checker) warn(what string, format string, args ...any) {
	c.warns++
	fmt.Printf("WARN %s: %s\n", what, fmt.Sprintf(format, args...))
}

func isManifestType(mt string) bool { return mt == v1.MediaTypeImageManifest || mt == dockerManifest }
func isIndexType(mt string) bool    { return mt == v1.MediaTypeImageIndex || mt == dockerManifestList }

// walk checks one descriptor and what it references. from says where it was found.
func (c *checker) walk(d v1.Descriptor, from string, optional bool) {
	if c.seen[d.Digest] {
		return
	}
	if err := d.Digest.Validate(); err != nil {
		c.fail(from, "descriptor digest %q: %v", d.Digest, err)
		return
	}
	what := c.src.name(d.Digest) + " (" + from + ")"
	if !isManifestType(d.MediaType) && !isIndexType(d.MediaType) {
		c.seen[d.Digest] = true
		if err := c.src.blob(d); err != nil {
			if optional && errors.Is(err, fs.ErrNotExist) {
				c.warn(what, "%v", err)
				return
			}
			c.fail(what, "%v", err)
			return
		}
		c.nBlob++
		return
	}
	c.seen[d.Digest] = true
	buf, err := c.src.manifest(d)
	if err != nil {
		if optional && errors.Is(err, fs.ErrNotExist) {
			c.warn(what, "%v", err)
			return
		}
		c.fail(what, "%v", err)
		return
	}
	c.validateJSON(what, d.MediaType, buf)
}

// validateJSON validates a manifest or index body of the given (descriptor) media type and walks its children.
func (c *checker) validateJSON(what, mt string, buf []byte) {
	var head struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
	}
	if err := json.Unmarshal(buf, &head); err != nil {
		c.fail(what, "not JSON: %v", err)
		return
	}
	if head.MediaType != "" && mt != "" && head.MediaType != mt {
		c.fail(what, "mediaType %q in the body, %q in the descriptor", head.MediaType, mt)
		return
	}
	if mt == "" {
		mt = head.MediaType
	}
	if len(buf) > maxManifestSize {
		c.fail(what, "%d bytes, over the 4 MiB registries accept", len(buf))
	}
	switch {
	case isIndexType(mt):
		c.nIdx++
		if mt == v1.MediaTypeImageIndex {
			if err := schema.ValidatorMediaTypeImageIndex.Validate(bytes.NewReader(buf)); err != nil {
				c.fail(what, "image index schema: %v", err)
				return
			}
		}
		var idx v1.Index
		if err := json.Unmarshal(buf, &idx); err != nil {
			c.fail(what, "index: %v", err)
			return
		}
		for i, m := range idx.Manifests {
			c.walk(m, fmt.Sprintf("%s manifests[%d]", shortName(what), i), false)
		}
		if idx.Subject != nil {
			c.walk(*idx.Subject, shortName(what)+" subject", true)
		}
	case isManifestType(mt):
		c.nMan++
		if mt == v1.MediaTypeImageManifest {
			if err := schema.ValidatorMediaTypeManifest.Validate(bytes.NewReader(buf)); err != nil {
				c.fail(what, "image manifest schema: %v", err)
				return
			}
		}
		var m v1.Manifest
		if err := json.Unmarshal(buf, &m); err != nil {
			c.fail(what, "manifest: %v", err)
			return
		}
		c.walk(m.Config, shortName(what)+" config", false)
		for i, l := range m.Layers {
			c.walk(l, fmt.Sprintf("%s layers[%d]", shortName(what), i), false)
		}
		if m.Subject != nil {
			c.walk(*m.Subject, shortName(what)+" subject", true)
		}
	default:
		c.fail(what, "unknown manifest media type %q", mt)
	}
}

func shortName(what string) string {
	if i := strings.Index(what, " ("); i >= 0 {
		return what[:i]
	}
	return what
}

// ---------------------------------------------------------------- layout

type layout struct{ dir string }

func (l layout) path(d digest.Digest) string {
	return filepath.Join(l.dir, "blobs", d.Algorithm().String(), d.Encoded())
}
func (l layout) name(d digest.Digest) string {
	return "blobs/" + d.Algorithm().String() + "/" + d.Encoded()
}

func (l layout) read(d v1.Descriptor, limit int64) ([]byte, error) {
	f, err := os.Open(l.path(d.Digest))
	if err != nil {
		return nil, fmt.Errorf("blob missing: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() != d.Size {
		return nil, fmt.Errorf("size %d, descriptor says %d", st.Size(), d.Size)
	}
	if limit > 0 && st.Size() > limit {
		return nil, fmt.Errorf("%d bytes, too large for a manifest", st.Size())
	}
	var buf bytes.Buffer
	vr := d.Digest.Verifier()
	if _, err := io.Copy(io.MultiWriter(&buf, vr), f); err != nil {
		return nil, err
	}
	if !vr.Verified() {
		return nil, fmt.Errorf("content does not match its digest %s", d.Digest)
	}
	return buf.Bytes(), nil
}

func (l layout) manifest(d v1.Descriptor) ([]byte, error) { return l.read(d, maxManifestSize) }

func (l layout) blob(d v1.Descriptor) error {
	f, err := os.Open(l.path(d.Digest))
	if err != nil {
		return fmt.Errorf("blob missing: %w", err)
	}
	defer f.Close()
	vr := d.Digest.Verifier()
	n, err := io.Copy(vr, f)
	if err != nil {
		return err
	}
	if n != d.Size {
		return fmt.Errorf("size %d, descriptor says %d", n, d.Size)
	}
	if !vr.Verified() {
		return fmt.Errorf("content does not match its digest %s", d.Digest)
	}
	return nil
}

func checkLayout(dir string, verbose bool) *checker {
	l := layout{dir: dir}
	c := &checker{src: l, seen: map[digest.Digest]bool{}, verbose: verbose}
	buf, err := os.ReadFile(filepath.Join(dir, v1.ImageLayoutFile))
	if err != nil {
		c.fail(v1.ImageLayoutFile, "%v", err)
	} else if err := schema.ValidatorMediaTypeLayoutHeader.Validate(bytes.NewReader(buf)); err != nil {
		c.fail(v1.ImageLayoutFile, "image layout schema: %v", err)
	}
	buf, err = os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		c.fail("index.json", "%v", err)
		return c
	}
	c.validateJSON("index.json", v1.MediaTypeImageIndex, buf)

	// Manifests and indexes not reachable from index.json.
	root := filepath.Join(dir, "blobs")
	_ = filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			c.fail(p, "%v", err)
			return nil
		}
		if de.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		alg, enc, ok := strings.Cut(filepath.ToSlash(rel), "/")
		if !ok {
			c.warn("blobs/"+rel, "not in blobs/<alg>/<encoded>")
			return nil
		}
		d := digest.NewDigestFromEncoded(digest.Algorithm(alg), enc)
		if err := d.Validate(); err != nil {
			c.warn("blobs/"+rel, "file name is not a digest: %v", err)
			return nil
		}
		if c.seen[d] {
			return nil
		}
		info, err := de.Info()
		if err != nil || info.Size() > maxManifestSize || info.Size() < 2 {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil || b[0] != '{' {
			return nil
		}
		var head struct {
			SchemaVersion *int             `json:"schemaVersion"`
			MediaType     string           `json:"mediaType"`
			Manifests     *json.RawMessage `json:"manifests"`
			Layers        *json.RawMessage `json:"layers"`
		}
		if json.Unmarshal(b, &head) != nil || head.SchemaVersion == nil {
			return nil // a config or other JSON blob
		}
		mt := head.MediaType
		if mt == "" {
			switch {
			case head.Manifests != nil:
				mt = v1.MediaTypeImageIndex
			case head.Layers != nil:
				mt = v1.MediaTypeImageManifest
			default:
				return nil
			}
		}
		if !isManifestType(mt) && !isIndexType(mt) {
			return nil
		}
		desc := v1.Descriptor{MediaType: mt, Digest: d, Size: info.Size()}
		c.walk(desc, "not referenced from index.json", false)
		return nil
	})
	return c
}

// ---------------------------------------------------------------- registry

type registry struct {
	client     *http.Client
	base, repo string
	user, pass string
}

var acceptManifests = strings.Join([]string{v1.MediaTypeImageManifest, v1.MediaTypeImageIndex, dockerManifest, dockerManifestList}, ", ")

func (r registry) name(d digest.Digest) string { return r.repo + "@" + d.String() }

func (r registry) do(method, kind, ref string) (*http.Response, error) {
	req, err := http.NewRequest(method, r.base+"/v2/"+r.repo+"/"+kind+"/"+ref, nil)
	if err != nil {
		return nil, err
	}
	if kind == "manifests" {
		req.Header.Set("Accept", acceptManifests)
	}
	if r.user != "" {
		req.SetBasicAuth(r.user, r.pass)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusNotFound {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %w", method, req.URL, fs.ErrNotExist)
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s %s: %s", method, req.URL, resp.Status)
	}
	return resp, nil
}

// get fetches a manifest by tag or digest, returning its bytes and media type.
func (r registry) get(ref string) ([]byte, string, error) {
	resp, err := r.do(http.MethodGet, "manifests", ref)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	buf, err := io.ReadAll(io.LimitReader(resp.Body, maxManifestSize+1))
	if err != nil {
		return nil, "", err
	}
	return buf, resp.Header.Get("Content-Type"), nil
}

func (r registry) manifest(d v1.Descriptor) ([]byte, error) {
	buf, _, err := r.get(d.Digest.String())
	if err != nil {
		return nil, err
	}
	if int64(len(buf)) != d.Size {
		return nil, fmt.Errorf("size %d, descriptor says %d", len(buf), d.Size)
	}
	if d.Digest.Algorithm().FromBytes(buf) != d.Digest {
		return nil, fmt.Errorf("content does not match its digest %s", d.Digest)
	}
	return buf, nil
}

func (r registry) blob(d v1.Descriptor) error {
	resp, err := r.do(http.MethodHead, "blobs", d.Digest.String())
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.ContentLength != d.Size {
		return fmt.Errorf("size %d, descriptor says %d", resp.ContentLength, d.Size)
	}
	return nil
}

func checkRegistry(ref string, plainHTTP bool, caFile, userpass string) (*checker, error) {
	hostRepo, tagOrDigest := ref, "latest"
	if i := strings.Index(ref, "@"); i >= 0 {
		hostRepo, tagOrDigest = ref[:i], ref[i+1:]
	} else if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		hostRepo, tagOrDigest = ref[:i], ref[i+1:]
	}
	host, repo, ok := strings.Cut(hostRepo, "/")
	if !ok {
		return nil, fmt.Errorf("--registry %q: want host:port/repo[:tag|@digest]", ref)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no certificates", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	scheme := "https"
	if plainHTTP {
		scheme = "http"
	}
	r := registry{client: &http.Client{Transport: tr, Timeout: 60 * time.Second}, base: scheme + "://" + host, repo: repo}
	if userpass != "" {
		r.user, r.pass, _ = strings.Cut(userpass, ":")
	}
	c := &checker{src: r, seen: map[digest.Digest]bool{}}
	buf, mt, err := r.get(tagOrDigest)
	if err != nil {
		return nil, err
	}
	c.validateJSON(ref, mt, buf)
	return c, nil
}

func main() {
	fl := flag.NewFlagSet("ocischema", flag.ContinueOnError)
	reg := fl.String("registry", "", "validate host:port/repo[:tag|@digest] over the registry API instead of a layout")
	plain := fl.Bool("plain-http", false, "registry over plain HTTP")
	ca := fl.String("ca-file", "", "CA certificate for the registry's TLS")
	user := fl.String("user", "", "user:password for basic auth")
	quiet := fl.Bool("q", false, "print only problems")
	fl.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: ocischema LAYOUT_DIR... | ocischema --registry HOST:PORT/REPO[:TAG|@DIGEST] [--plain-http] [--ca-file F] [--user U:P]")
		fl.PrintDefaults()
	}
	if err := fl.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	var checks []*checker
	var names []string
	switch {
	case *reg != "" && fl.NArg() == 0:
		c, err := checkRegistry(*reg, *plain, *ca, *user)
		if err != nil {
			fmt.Printf("FAIL %s: %v\n", *reg, err)
			os.Exit(1)
		}
		checks, names = append(checks, c), append(names, *reg)
	case *reg == "" && fl.NArg() > 0:
		for _, dir := range fl.Args() {
			checks, names = append(checks, checkLayout(dir, !*quiet)), append(names, dir)
		}
	default:
		fl.Usage()
		os.Exit(2)
	}
	rc := 0
	for i, c := range checks {
		status := "ok"
		if c.fails > 0 {
			status, rc = "FAILED", 1
		}
		if !*quiet || c.fails > 0 {
			fmt.Printf("%s %s: %d indexes, %d manifests, %d other blobs; %d problems, %d warnings\n",
				status, names[i], c.nIdx, c.nMan, c.nBlob, c.fails, c.warns)
		}
	}
	os.Exit(rc)
}
