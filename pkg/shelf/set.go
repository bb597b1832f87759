package shelf

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/trust"
)

// SetOptions configure a Set. The zero value checks no signatures (a lab
// without a trust policy), reads only the bundles' indexes at load, keeps
// nothing in memory and makes no private copies.
type SetOptions struct {
	// Policy is the trust policy every bundle's signatures must satisfy
	// (see Verify). nil checks no signatures: only integrity decides.
	Policy *trust.Policy
	// Tag, when set, restricts the set to the bundle under that tag.
	Tag string
	// CheckBlobs reads and hashes every manifest and blob of a bundle
	// (bundle.Check) before admitting it, and again on forced loads;
	// without it only the indexes are read at load, and every tarball is
	// verified when it is read (Open). Deep also re-hashes every tree.
	CheckBlobs, Deep bool
	// MemoryCache is how many bytes of small verified tarballs (at most
	// MemoryItem bytes each, DefaultMemoryItem if 0) are kept in memory,
	// least recently used evicted first; 0 keeps none.
	MemoryCache, MemoryItem int64
	// CopyDir, if set, is a directory only this process writes (created
	// with mode 0700), where verified private copies of tarballs are kept,
	// CopySize bytes at most, least recently used evicted first: see Open.
	CopyDir  string
	CopySize int64
	// Logger receives what the set decides: bundles verified and rejected
	// (Info, Error) and items withdrawn (Error, once each). nil discards it.
	Logger *slog.Logger
	// Now is the clock of BundleInfo and Shelf times; nil means time.Now.
	Now func() time.Time
}

// Set is the verified set of a store that a server serves: it lists the
// store's bundles (List's rule), verifies them (Verify: policy, signatures,
// indexes or a full check), and remembers what it decided, so that a
// reload that finds nothing new costs one stat of a layout's index.json
// (one tag listing of a registry) and a bundle is read and checked once
// per digest. Each Load gives an immutable Shelf; every Shelf of a Set
// shares the set's memory of item bytes: what verified (memory, private
// copies) and what failed (withdrawn items, which stay withdrawn across
// loads until their blob changes and verifies again). A Set is safe for
// concurrent use; Load must not run twice at once.
type Set struct {
	st     *store.Store
	local  bool // the store has blob files (a layout)
	opts   SetOptions
	log    *slog.Logger
	mem    *memCache
	copies *copies

	// Load's memory (only Load touches it).
	tags    map[string]digest.Digest         // the last listing, signature tags included
	read    map[digest.Digest]*bundle.Bundle // bundles read, by index digest
	checked map[digest.Digest]bool           // full checks passed
	cur     atomic.Pointer[Shelf]

	// wmu guards withdrawn and lifted (withdrawals lifted, the item not
	// yet verified again).
	wmu       sync.Mutex
	withdrawn map[digest.Digest]*withdrawal
	lifted    map[digest.Digest]bool
	// counters for Stats.
	withdrawals, readmissions, streams, verifiedReads atomic.Int64
}

// withdrawal is why an item's blob is not served, and what its files were
// when it failed.
type withdrawal struct {
	item  string
	cause string
	ids   []store.FileID // the parts' identities at the failure (layouts)
	entry *bundle.Entry
}

// BundleInfo describes a verified bundle.
type BundleInfo struct {
	// Tags are the store's tags that name the bundle (sorted; they decide
	// nothing); SignedTags the tags its counted signatures were made for.
	Tags       []string       `json:"tags"`
	SignedTags []string       `json:"signedTags,omitempty"`
	Digest     string         `json:"digest"`
	Created    time.Time      `json:"created,omitzero"`
	Signers    []string       `json:"signers"`
	Items      map[string]int `json:"items"`
}

// Shelf is what one Load of a Set found: the verified bundles and their
// routing table. It is immutable, safe for concurrent use, and reads item
// bytes through its Set (Open, Stat, Cached).
type Shelf struct {
	set      *Set
	bundles  []*bundle.Bundle
	cat      *bundle.Catalog
	info     []BundleInfo
	rejected []string
	found    int                   // bundles listed
	outcomes map[trust.Outcome]int // rejections by signature outcome
	reason   string
	loaded   time.Time
}

// NewSet returns the Set of st. It reads nothing until Load.
func NewSet(st *store.Store, opts SetOptions) (*Set, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Set{st: st, opts: opts, log: log, mem: newMemCache(opts.MemoryCache, opts.MemoryItem),
		read: map[digest.Digest]*bundle.Bundle{}, checked: map[digest.Digest]bool{}, withdrawn: map[digest.Digest]*withdrawal{}, lifted: map[digest.Digest]bool{}}
	_, err := st.StatBlob(context.Background(), ocispec.Descriptor{Digest: digest.FromString("")})
	s.local = !errors.Is(err, errdef.ErrUnsupported)
	if opts.CopyDir != "" && opts.CopySize > 0 {
		if s.copies, err = newCopies(opts.CopyDir, opts.CopySize); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Current returns the Shelf of the last successful Load (nil before).
func (s *Set) Current() *Shelf { return s.cur.Load() }

// group is one bundle of a listing with every tag naming it.
type group struct {
	index ocispec.Descriptor
	tags  []string
}

// Load lists the store's bundles, verifies the ones it has not verified
// yet (all of them when force is set: signatures, indexes, and with
// CheckBlobs every blob), and returns the Shelf of those that verified,
// logging each decision. It reports whether anything changed since the
// last Load: when nothing did (and force is false) it returns the current
// Shelf. A bundle that does not verify is left out, named in the log and
// in Shelf.Rejected; a Shelf with no bundle says why (Shelf.Reason).
// Withdrawn items whose blobs changed since they failed (and, when force
// is set, every withdrawn item) are verified again and re-admitted if
// they pass. An error (the store could not be listed, ctx ended) leaves
// the current Shelf in place.
func (s *Set) Load(ctx context.Context, force bool) (*Shelf, bool, error) {
	changed, err := s.st.Reload(ctx)
	if err != nil {
		return nil, false, err
	}
	var tags []string
	if s.opts.Tag != "" {
		if _, err := s.st.Resolve(ctx, s.opts.Tag); err != nil {
			return nil, false, fmt.Errorf("%s: %w", s.st.Ref().WithTag(s.opts.Tag), err)
		}
		tags = []string{s.opts.Tag}
	}
	refs, all, err := listBundles(ctx, s.st, tags)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", s.st.Ref(), err)
	}
	s.recheckWithdrawn(ctx, force)
	cur := s.cur.Load()
	if !force && cur != nil && !changed && mapsEqual(all, s.tags) {
		return cur, false, nil
	}
	s.tags = all

	var groups []*group
	byDigest := map[digest.Digest]*group{}
	for _, r := range refs {
		if g, ok := byDigest[r.Index.Digest]; ok {
			g.tags = append(g.tags, r.Tag)
			continue
		}
		g := &group{index: r.Index, tags: []string{r.Tag}}
		byDigest[r.Index.Digest] = g
		groups = append(groups, g)
	}
	sh := &Shelf{set: s, loaded: s.opts.Now(), found: len(groups), outcomes: map[trust.Outcome]int{}}
	for _, g := range groups {
		name := strings.Join(g.tags, ",")
		full := s.opts.CheckBlobs && (force || !s.checked[g.index.Digest])
		res, err := Verify(ctx, s.st, g.index, VerifyOptions{Policy: s.opts.Policy, IndexesOnly: !full, Deep: s.opts.Deep,
			NoClosure: true, Known: s.read[g.index.Digest]})
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		if err != nil {
			var ve *trust.VerificationError
			if errors.As(err, &ve) {
				sh.outcomes[ve.Outcome]++
			}
			why := err.Error()
			if res != nil && res.Check != nil && len(res.Check.Problems) > 0 {
				why = fmt.Sprintf("%d integrity problems, first: %v", len(res.Check.Problems), res.Check.Problems[0])
			}
			s.log.Error("bundle rejected: not served", slog.String("tag", name), slog.String("digest", g.index.Digest.String()), slog.String("reason", why))
			sh.rejected = append(sh.rejected, name+": "+why)
			delete(s.checked, g.index.Digest)
			continue
		}
		b := res.Bundle
		s.read[g.index.Digest] = b
		if full {
			s.checked[g.index.Digest] = true
		}
		info := BundleInfo{Tags: g.tags, Digest: g.index.Digest.String(), Created: b.Created, Signers: []string{}, Items: map[string]int{}}
		if res.Signature != nil {
			info.Signers = append(info.Signers, res.Signature.Signers...)
			info.SignedTags = res.Signature.Tags
		}
		for _, e := range b.Entries {
			info.Items[string(e.Kind)]++
		}
		s.log.Info("bundle verified", slog.String("tag", name), slog.String("digest", info.Digest),
			slog.String("signers", strings.Join(info.Signers, ",")), slog.String("signed_tags", strings.Join(info.SignedTags, ",")),
			slog.Int("items", len(b.Entries)))
		sh.bundles = append(sh.bundles, b)
		sh.info = append(sh.info, info)
	}
	// Forget bundles no tag names any more.
	for d := range s.read {
		if _, ok := byDigest[d]; !ok {
			delete(s.read, d)
			delete(s.checked, d)
		}
	}
	sh.cat = bundle.NewCatalog(sh.bundles...)
	if len(sh.bundles) == 0 {
		if len(groups) == 0 {
			sh.reason = "no bundle in " + s.st.Ref().String()
		} else {
			sh.reason = fmt.Sprintf("no verified bundle in %s: %d found, all rejected: %s", s.st.Ref(), len(groups), strings.Join(sh.rejected, "; "))
		}
		s.log.Error("serving nothing", slog.String("reason", sh.reason))
	}
	s.cur.Store(sh)
	return sh, true, nil
}

func mapsEqual(a, b map[string]digest.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Catalog returns the routing table of the verified bundles (newest
// bundle first, see bundle.NewCatalog).
func (sh *Shelf) Catalog() *bundle.Catalog { return sh.cat }

// Verified returns the verified bundles, oldest first: by the created
// time of their index, ties broken by index digest as bundle.Catalog
// breaks them (the reverse of its newest-first order). A server derives
// what it advertised as of each bundle from a prefix of this order. The
// bundles must not be modified.
func (sh *Shelf) Verified() []*bundle.Bundle {
	out := slices.Clone(sh.bundles)
	slices.SortStableFunc(out, func(a, b *bundle.Bundle) int {
		return cmp.Or(a.Created.Compare(b.Created), strings.Compare(b.Index.Digest.String(), a.Index.Digest.String()))
	})
	return out
}

// Bundles describes the verified bundles, in the store's tag order.
func (sh *Shelf) Bundles() []BundleInfo { return slices.Clone(sh.info) }

// Rejected names the bundles that did not verify, with the reason.
func (sh *Shelf) Rejected() []string { return slices.Clone(sh.rejected) }

// Found is how many bundles the Load listed, verified or not.
func (sh *Shelf) Found() int { return sh.found }

// Rejections is how many bundles were rejected with a signature outcome
// (trust.OutcomeUnknownKeys: signed only by keys the policy does not
// trust).
func (sh *Shelf) Rejections(o trust.Outcome) int { return sh.outcomes[o] }

// Reason says why nothing is served; "" when a bundle verified.
func (sh *Shelf) Reason() string { return sh.reason }

// Loaded is when the Load that made the Shelf ran.
func (sh *Shelf) Loaded() time.Time { return sh.loaded }

// Stats are a Set's counters, for a server's metrics.
type Stats struct {
	// Withdrawn is how many items are withdrawn now; Withdrawals and
	// Readmissions count the withdrawals and re-admissions so far.
	Withdrawn                 int
	Withdrawals, Readmissions int64
	// Streams counts tarball reads verified while streaming (the slow
	// path), VerifiedReads those that ended verified.
	Streams, VerifiedReads int64
	// MemoryItems and MemoryBytes are what the memory cache holds.
	MemoryItems int
	MemoryBytes int64
	// CopyHits counts opens of private copies; CopyFills the copies made;
	// CopyBytes and CopyFiles what they hold.
	CopyHits, CopyFills, CopyBytes, CopyFiles int64
}

// Stats returns the set's counters.
func (s *Set) Stats() Stats {
	s.wmu.Lock()
	n := len(s.withdrawn)
	s.wmu.Unlock()
	st := Stats{Withdrawn: n, Withdrawals: s.withdrawals.Load(), Readmissions: s.readmissions.Load(),
		Streams: s.streams.Load(), VerifiedReads: s.verifiedReads.Load(), MemoryItems: s.mem.Len(), MemoryBytes: s.mem.Size()}
	st.CopyHits, st.CopyFills, st.CopyBytes, st.CopyFiles = s.copies.stats()
	return st
}

// Withdrawn returns the whole-tarball digests of the items withdrawn now,
// sorted.
func (s *Set) Withdrawn() []digest.Digest {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	out := make([]digest.Digest, 0, len(s.withdrawn))
	for d := range s.withdrawn {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}
