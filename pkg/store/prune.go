package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/shoebox-jl/shoebox/internal/ocigraph"
)

// RemoveRoots removes entries from a writable layout's index.json in one
// atomic write: the tags listed, and every entry (tagged or not) of the
// digests listed. What only those entries reached stays on disk,
// unreferenced, until CollectGarbage removes it; until then the layout is
// valid and the content is simply no longer listed. The in-memory index is
// read from the new index.json. It reports how many entries it removed.
// Registries and read-only layouts return errdef.ErrUnsupported and
// ErrReadOnly.
func (s *Store) RemoveRoots(ctx context.Context, tags []string, digests []digest.Digest) (int, error) {
	if err := s.checkWritable(); err != nil {
		return 0, err
	}
	l, ok := s.b.(*layout)
	if !ok {
		return 0, fmt.Errorf("%s: removing index entries: %w", s.ref.Location(), errdef.ErrUnsupported)
	}
	// Unsaved changes first, so that the file holds everything.
	if err := s.Flush(ctx); err != nil {
		return 0, err
	}
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	b, err := readCapped(filepath.Join(l.root, ocispec.ImageIndexFile), maxIndexBytes)
	if err != nil {
		return 0, fmt.Errorf("layout %s: %w", l.root, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return 0, fmt.Errorf("layout %s: decoding %s: %w", l.root, ocispec.ImageIndexFile, err)
	}
	dropTag := map[string]bool{}
	for _, t := range tags {
		dropTag[t] = true
	}
	dropDigest := map[digest.Digest]bool{}
	for _, d := range digests {
		dropDigest[d] = true
	}
	kept := idx.Manifests[:0:0]
	for _, d := range idx.Manifests {
		if dropDigest[d.Digest] || dropTag[d.Annotations[ocispec.AnnotationRefName]] && d.Annotations[ocispec.AnnotationRefName] != "" {
			continue
		}
		kept = append(kept, d)
	}
	removed := len(idx.Manifests) - len(kept)
	if removed == 0 {
		return 0, nil
	}
	idx.Manifests = kept
	out, err := json.Marshal(idx)
	if err != nil {
		return 0, fmt.Errorf("layout %s: encoding index: %w", l.root, err)
	}
	if err := writeFileAtomic(l.root, ocispec.ImageIndexFile, indexTmpPrefix, out, readableMode); err != nil {
		return 0, fmt.Errorf("layout %s: saving index: %w", l.root, err)
	}
	if _, err := l.reload(ctx, true); err != nil {
		return removed, err
	}
	return removed, nil
}

// GarbageOptions tune CollectGarbage.
type GarbageOptions struct {
	// DryRun counts what would be removed and removes nothing.
	DryRun bool
	// WithoutTags and WithoutDigests are index.json entries the walk
	// ignores, as if RemoveRoots had removed them: with DryRun, what a
	// RemoveRoots and a collection would remove together.
	WithoutTags    []string
	WithoutDigests []digest.Digest
}

// Entries returns the entries index.json holds now (tags in the
// org.opencontainers.image.ref.name annotation); nil for registries and
// when index.json cannot be read.
func (s *Store) Entries() []ocispec.Descriptor {
	l, ok := s.b.(*layout)
	if !ok {
		return nil
	}
	b, err := readCapped(filepath.Join(l.root, ocispec.ImageIndexFile), maxIndexBytes)
	if err != nil {
		return nil
	}
	var idx ocispec.Index
	if json.Unmarshal(b, &idx) != nil {
		return nil
	}
	return idx.Manifests
}

// GarbageReport is what CollectGarbage found (and, unless dry, removed).
type GarbageReport struct {
	// Reachable counts the blobs index.json reaches (manifests included).
	Reachable int
	// Manifests and Blobs count the unreachable manifests and other blobs;
	// Bytes is their size on disk.
	Manifests, Blobs int
	Bytes            int64
}

// CollectGarbage removes every blob file of a writable layout that
// index.json does not reach: it walks every manifest from index.json's
// entries (tagged and untagged: bundles, signatures, referrers, and the
// items of a push not finished yet), then lists blobs/sha256 and removes
// the files it did not reach (see GarbageOptions for a dry run). A manifest
// index.json lists but whose blob is missing is skipped, as a partial copy
// is a valid layout; one that does not decode stops the collection (its
// successors are unknown, so nothing could be removed safely).
//
// index.json is never written, so an interrupted collection leaves a
// valid layout, and the next one finishes it. The caller holds the layout
// (a writable Store): no other writer adds blobs meanwhile; a dry run may
// use a read-only one. Registries
// return errdef.ErrUnsupported: their own garbage collection reclaims
// blobs.
func (s *Store) CollectGarbage(ctx context.Context, opts GarbageOptions) (*GarbageReport, error) {
	dry := opts.DryRun
	if !dry {
		if err := s.checkWritable(); err != nil {
			return nil, err
		}
	}
	l, ok := s.b.(*layout)
	if !ok {
		return nil, fmt.Errorf("%s: garbage collection: %w", s.ref.Location(), errdef.ErrUnsupported)
	}
	if err := s.Flush(ctx); err != nil {
		return nil, err
	}
	b, err := readCapped(filepath.Join(l.root, ocispec.ImageIndexFile), maxIndexBytes)
	if err != nil {
		return nil, fmt.Errorf("layout %s: %w", l.root, err)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("layout %s: decoding %s: %w", l.root, ocispec.ImageIndexFile, err)
	}
	roots := idx.Manifests[:0:0]
	for _, d := range idx.Manifests {
		name := d.Annotations[ocispec.AnnotationRefName]
		if slices.Contains(opts.WithoutDigests, d.Digest) || name != "" && slices.Contains(opts.WithoutTags, name) {
			continue
		}
		roots = append(roots, d)
	}
	reach, err := l.reachable(ctx, roots)
	if err != nil {
		return nil, err
	}
	rep := &GarbageReport{Reachable: len(reach)}
	dir, err := os.Open(l.blobDir)
	if err != nil {
		if os.IsNotExist(err) {
			return rep, nil
		}
		return nil, fmt.Errorf("layout %s: %w", l.root, err)
	}
	defer dir.Close()
	for {
		if err := ctx.Err(); err != nil {
			return rep, err
		}
		ents, rerr := dir.ReadDir(1024)
		for _, e := range ents {
			name := e.Name()
			if !e.Type().IsRegular() {
				continue
			}
			d := digest.NewDigestFromEncoded(digest.SHA256, name)
			if _, ok := reach[d]; ok {
				continue
			}
			fi, err := e.Info()
			if err != nil {
				if os.IsNotExist(err) {
					continue
				}
				return rep, fmt.Errorf("layout %s: %w", l.root, err)
			}
			if looksLikeManifest(filepath.Join(l.blobDir, name), fi.Size()) {
				rep.Manifests++
			} else {
				rep.Blobs++
			}
			rep.Bytes += fi.Size()
			if dry {
				continue
			}
			if err := os.Remove(filepath.Join(l.blobDir, name)); err != nil && !os.IsNotExist(err) {
				return rep, fmt.Errorf("layout %s: removing blob %s: %w", l.root, name, err)
			}
		}
		if rerr != nil {
			break
		}
	}
	if !dry {
		if err := syncDir(l.blobDir); err != nil {
			return rep, fmt.Errorf("layout %s: %w", l.root, err)
		}
	}
	return rep, nil
}

// looksLikeManifest guesses, for the report only, whether an unreachable
// blob is a manifest: a small JSON document with a mediaType.
func looksLikeManifest(path string, size int64) bool {
	if size > maxManifestBytes || size < 2 {
		return false
	}
	b, err := readCapped(path, maxManifestBytes)
	if err != nil {
		return false
	}
	var m struct {
		MediaType string `json:"mediaType"`
	}
	return json.Unmarshal(b, &m) == nil && (m.MediaType == ocispec.MediaTypeImageManifest || m.MediaType == ocispec.MediaTypeImageIndex)
}

// reachable returns every digest reached from roots: the roots, and level
// by level the successors of every manifest (read graphReaders at a time).
// It holds one map entry per blob, nothing else.
func (l *layout) reachable(ctx context.Context, roots []ocispec.Descriptor) (map[digest.Digest]struct{}, error) {
	reach := map[digest.Digest]struct{}{}
	level := roots
	for len(level) > 0 {
		var todo []ocispec.Descriptor
		for _, d := range level {
			if _, seen := reach[d.Digest]; seen {
				continue
			}
			reach[d.Digest] = struct{}{}
			if isManifest(d) {
				todo = append(todo, d)
			}
		}
		succs := make([][]ocispec.Descriptor, len(todo))
		eg, ectx := errgroup.WithContext(ctx)
		eg.SetLimit(graphReaders)
		for i, d := range todo {
			eg.Go(func() error {
				s, _, err := l.successors(ectx, d)
				if errors.Is(err, errdef.ErrNotFound) {
					return nil
				}
				succs[i] = plainSuccs(s)
				return err
			})
		}
		if err := eg.Wait(); err != nil {
			return nil, err
		}
		level = slices.Concat(succs...)
	}
	return reach, nil
}

// plainSuccs drops annotations, which a reachability walk does not need
// (an index of 100,000 items carries as many annotation maps).
func plainSuccs(s []ocispec.Descriptor) []ocispec.Descriptor {
	for i := range s {
		s[i] = ocispec.Descriptor{MediaType: s[i].MediaType, Digest: s[i].Digest, Size: s[i].Size}
	}
	return s
}

// DeleteManifest deletes a manifest of a registry repository by digest
// (DELETE /v2/<name>/manifests/<digest>); the registry drops the tags that
// pointed at it, and its garbage collection reclaims the blobs nothing
// references any more. A manifest already gone is not an error. A
// registry that does not allow deletes (distribution without
// storage.delete.enabled answers 405; an account without the delete
// permission 401 or 403) returns an error wrapping errdef.ErrUnsupported
// or ErrUnauthorized. Layouts return errdef.ErrUnsupported (see
// RemoveRoots).
func (s *Store) DeleteManifest(ctx context.Context, desc ocispec.Descriptor) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	r, ok := s.b.(*remoteRepo)
	if !ok {
		return fmt.Errorf("%s: deleting manifests: %w", s.ref.Location(), errdef.ErrUnsupported)
	}
	return r.deleteErr(r.Repository.Delete(ctx, desc), desc.Digest.String())
}

// Untag removes a tag from a registry repository (DELETE
// /v2/<name>/manifests/<tag>, which distribution supports when deletes are
// enabled), leaving the manifest. A tag already gone is not an error;
// refusals wrap errdef.ErrUnsupported or ErrUnauthorized as for
// DeleteManifest. Layouts return errdef.ErrUnsupported (see RemoveRoots).
func (s *Store) Untag(ctx context.Context, tag string) error {
	if err := s.checkWritable(); err != nil {
		return err
	}
	r, ok := s.b.(*remoteRepo)
	if !ok {
		return fmt.Errorf("%s: untagging: %w", s.ref.Location(), errdef.ErrUnsupported)
	}
	ref := r.Reference
	ref.Reference = tag
	url := "https://"
	if r.PlainHTTP {
		url = "http://"
	}
	url += ref.Host() + "/v2/" + ref.Repository + "/manifests/" + tag
	ctx = auth.AppendRepositoryScope(ctx, r.Reference, auth.ActionDelete)
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, url, nil)
	if err != nil {
		return err
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return r.mapErr(err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusAccepted, http.StatusOK, http.StatusNoContent:
		return nil
	}
	er := &errcode.ErrorResponse{Method: req.Method, URL: req.URL, StatusCode: resp.StatusCode}
	var body struct {
		Errors errcode.Errors `json:"errors"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body) == nil {
		er.Errors = body.Errors
	}
	return r.deleteErr(er, "tag "+tag)
}

// deleteErr maps a delete's failure: gone already is success, refusals
// are errdef.ErrUnsupported (405, or the UNSUPPORTED error code) or
// ErrUnauthorized.
func (r *remoteRepo) deleteErr(err error, what string) error {
	if err == nil || errors.Is(err, errdef.ErrNotFound) {
		return nil
	}
	var er *errcode.ErrorResponse
	if errors.As(err, &er) {
		if er.StatusCode == http.StatusNotFound {
			return nil
		}
		unsupported := er.StatusCode == http.StatusMethodNotAllowed
		for _, e := range er.Errors {
			if strings.EqualFold(e.Code, errcode.ErrorCodeUnsupported) {
				unsupported = true
			}
		}
		if unsupported {
			return fmt.Errorf("registry %s: repository %s: deleting %s: %w: %w", r.Reference.Registry, r.Reference.Repository, what, errdef.ErrUnsupported, err)
		}
	}
	return r.mapErr(fmt.Errorf("deleting %s: %w", what, err))
}

// ManifestSuccessors reads a manifest or index through the store (size
// capped and digest-checked) and returns the descriptors it points at,
// without annotations.
func ManifestSuccessors(ctx context.Context, f content.Fetcher, d ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	if d.Size > maxManifestBytes || d.Size < 0 {
		return nil, fmt.Errorf("manifest %s: size %d: %w", d.Digest, d.Size, errdef.ErrSizeExceedsLimit)
	}
	b, err := content.FetchAll(ctx, f, d)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	out, _, err := ocigraph.Successors(b)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", d.Digest, err)
	}
	return plainSuccs(out), nil
}
