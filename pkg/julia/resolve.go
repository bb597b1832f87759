package julia

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"slices"
	"strings"

	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// ErrUnsatisfiable is returned by Resolve when a root requirement has no
// version whose dependency closure can be satisfied from the registry.
var ErrUnsatisfiable = errors.New("unsatisfiable")

// Requirement names a root package for Resolve, optionally constrained.
type Requirement struct {
	Name string
	// UUID selects among registry packages sharing Name; zero = by name only.
	UUID UUID
	// Spec constrains the versions; nil means any version.
	Spec *VersionSpec
	// Text is the requirement as ParseRequirement read it ("Example@=0.5.3"),
	// for records; "" when built otherwise.
	Text string
}

// ParseRequirement reads "Name" or "Name@spec", spec in Project.toml
// [compat] syntax (ParseSpec), e.g. "JSON@0.21", "Example@=0.5.3".
func ParseRequirement(s string) (Requirement, error) {
	name, spec, found := strings.Cut(s, "@")
	if name == "" {
		return Requirement{}, errf("requirement %q: empty package name", s)
	}
	r := Requirement{Name: name, Text: s}
	if found {
		vs, err := ParseSpec(spec)
		if err != nil {
			return Requirement{}, fmt.Errorf("requirement %q: %w", s, err)
		}
		r.Spec = &vs
	}
	return r, nil
}

// ResolveOptions tune Resolve. The zero value works.
type ResolveOptions struct {
	// VersionsPerPackage is how many versions of each root to take: the
	// newest N non-yanked versions that satisfy its spec and whose closure
	// resolves. If ≤ 0, 1 is used.
	VersionsPerPackage int
	// JuliaVersion, if set, is checked against every candidate's "julia"
	// compat. If "", julia compat is ignored.
	JuliaVersion string
	// IncludeWeak also resolves weak dependencies that are in the registry
	// (honouring WeakCompat). Weak deps missing from the registry are skipped.
	IncludeWeak bool
	// Stdlibs are the uuids of standard libraries: a dependency that is not
	// in the registry but is listed here is skipped. A dependency that is in
	// the registry is resolved from it even if it is a stdlib (upgradable
	// stdlibs, JLLs), which can only over-include. nil → DefaultStdlibs().
	Stdlibs map[UUID]string
	// MaxSteps bounds the backtracking search (candidate versions tried per
	// resolution). If ≤ 0, 200000 is used.
	MaxSteps int
}

// Resolution is the closure Resolve found.
type Resolution struct {
	// Packages are sorted by name, then version.
	Packages []ResolvedPackage
	// Stdlibs are the dependencies skipped as standard libraries (uuid → name).
	Stdlibs map[UUID]string
}

// ResolvedPackage is one package version of a Resolution.
type ResolvedPackage struct {
	Name     string
	UUID     UUID
	Version  Version
	TreeHash treehash.Hash
}

// Resolve computes the dependency closure of roots from the registry reg
// whose files are in fsys: for each package the newest non-yanked version
// consistent with every Compat constraint of the chosen versions (and the
// julia compat, if opts.JuliaVersion is set), found by depth-first search
// with backtracking. A version that depends on a package that is neither in
// the registry nor a stdlib is treated as unsatisfiable and another version
// is tried. Weak dependencies are excluded unless opts.IncludeWeak.
//
// It is safe to call concurrently; it reads fsys and does not modify reg.
func Resolve(reg *Registry, fsys fs.FS, roots []Requirement, opts ResolveOptions) (*Resolution, error) {
	s := &solver{reg: reg, fsys: fsys, opts: opts, pkgs: map[UUID]*Package{}, stdSeen: map[UUID]string{}}
	if s.opts.Stdlibs == nil {
		s.opts.Stdlibs = DefaultStdlibs()
	}
	if s.opts.MaxSteps <= 0 {
		s.opts.MaxSteps = 200000
	}
	if opts.JuliaVersion != "" {
		jv, err := ParseVersion(opts.JuliaVersion)
		if err != nil {
			return nil, fmt.Errorf("julia version: %w", err)
		}
		s.julia = &jv
	}
	rootIDs := make([]UUID, len(roots))
	for i, r := range roots {
		u, err := s.rootUUID(r)
		if err != nil {
			return nil, err
		}
		rootIDs[i] = u
	}
	baseCons := map[UUID]VersionSpec{}
	for i, r := range roots {
		if r.Spec != nil {
			if prev, ok := baseCons[rootIDs[i]]; ok {
				baseCons[rootIDs[i]] = prev.Intersect(*r.Spec)
			} else {
				baseCons[rootIDs[i]] = *r.Spec
			}
		}
	}
	found := map[UUID]map[string]ResolvedPackage{}
	collect := func(chosen map[UUID]VersionInfo) {
		for u, vi := range chosen {
			if found[u] == nil {
				found[u] = map[string]ResolvedPackage{}
			}
			found[u][vi.Version.String()] = ResolvedPackage{Name: s.reg.Packages[u].Name, UUID: u, Version: vi.Version, TreeHash: vi.TreeHash}
		}
	}
	chosen, err := s.run(rootIDs, baseCons)
	if err != nil {
		return nil, err
	}
	if chosen == nil {
		return nil, fmt.Errorf("%s: no consistent set of versions: %w", rootNames(roots), ErrUnsatisfiable)
	}
	collect(chosen)
	if n := opts.VersionsPerPackage; n > 1 {
		for i, u := range rootIDs {
			p, err := s.pkg(u)
			if err != nil {
				return nil, err
			}
			got := 0
			for _, vi := range s.newestFirst(p) {
				if got >= n {
					break
				}
				if vi.Yanked || (roots[i].Spec != nil && !roots[i].Spec.Contains(vi.Version)) {
					continue
				}
				cons := maps.Clone(baseCons)
				exact := VersionSpec{Ranges: []VersionRange{exactRange(vi.Version)}}
				if prev, ok := cons[u]; ok {
					exact = prev.Intersect(exact)
				}
				cons[u] = exact
				ch, err := s.run(rootIDs, cons)
				if err != nil {
					return nil, err
				}
				if ch == nil || !ch[u].Version.Equal(vi.Version) {
					continue
				}
				collect(ch)
				got++
			}
		}
	}
	res := &Resolution{Stdlibs: s.stdSeen}
	for _, vs := range found {
		for _, rp := range vs {
			res.Packages = append(res.Packages, rp)
		}
	}
	slices.SortFunc(res.Packages, func(a, b ResolvedPackage) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.UUID.String(), b.UUID.String()), a.Version.Compare(b.Version))
	})
	return res, nil
}

func rootNames(roots []Requirement) string {
	names := make([]string, len(roots))
	for i, r := range roots {
		names[i] = r.Name
	}
	return strings.Join(names, ", ")
}

// exactRange is the range holding exactly v's major.minor.patch.
func exactRange(v Version) VersionRange {
	b := bound(v.Major, v.Minor, v.Patch)
	return VersionRange{Lower: b, Upper: b}
}

type solver struct {
	reg     *Registry
	fsys    fs.FS
	opts    ResolveOptions
	julia   *Version
	pkgs    map[UUID]*Package
	sorted  map[UUID][]VersionInfo
	stdSeen map[UUID]string
	steps   int
}

func (s *solver) rootUUID(r Requirement) (UUID, error) {
	if !r.UUID.IsZero() {
		rp, ok := s.reg.Packages[r.UUID]
		if !ok || (r.Name != "" && rp.Name != r.Name) {
			return UUID{}, fmt.Errorf("package %s=%s: not in registry %s: %w", r.Name, r.UUID, s.reg.Name, fs.ErrNotExist)
		}
		return r.UUID, nil
	}
	us := s.reg.Lookup(r.Name)
	switch len(us) {
	case 0:
		return UUID{}, fmt.Errorf("package %s: not in registry %s: %w", r.Name, s.reg.Name, fs.ErrNotExist)
	case 1:
		return us[0], nil
	}
	return UUID{}, fmt.Errorf("package %s: ambiguous in registry %s (%d packages), give its uuid: %w", r.Name, s.reg.Name, len(us), ErrUnsatisfiable)
}

func (s *solver) pkg(u UUID) (*Package, error) {
	if p, ok := s.pkgs[u]; ok {
		return p, nil
	}
	p, err := s.reg.LoadPackage(s.fsys, u)
	if err != nil {
		return nil, err
	}
	s.pkgs[u] = p
	return p, nil
}

func (s *solver) newestFirst(p *Package) []VersionInfo {
	if s.sorted == nil {
		s.sorted = map[UUID][]VersionInfo{}
	}
	if vs, ok := s.sorted[p.UUID]; ok {
		return vs
	}
	vs := p.SortedVersions()
	slices.Reverse(vs)
	s.sorted[p.UUID] = vs
	return vs
}

// run solves from scratch for the given roots and constraints; it returns
// nil, nil when there is no solution.
func (s *solver) run(roots []UUID, cons map[UUID]VersionSpec) (map[UUID]VersionInfo, error) {
	s.steps = 0
	queue := slices.Clone(roots)
	return s.solve(queue, map[UUID]VersionInfo{}, cons)
}

type depEdge struct {
	uuid UUID
	spec VersionSpec
}

func (s *solver) solve(queue []UUID, chosen map[UUID]VersionInfo, cons map[UUID]VersionSpec) (map[UUID]VersionInfo, error) {
	i := slices.IndexFunc(queue, func(u UUID) bool { _, ok := chosen[u]; return !ok })
	if i < 0 {
		return chosen, nil
	}
	u := queue[i]
	p, err := s.pkg(u)
	if err != nil {
		return nil, err
	}
	spec, constrained := cons[u]
versions:
	for _, vi := range s.newestFirst(p) {
		if vi.Yanked || (constrained && !spec.Contains(vi.Version)) {
			continue
		}
		s.steps++
		if s.steps > s.opts.MaxSteps {
			return nil, fmt.Errorf("resolving %s: more than %d steps: %w", p.Name, s.opts.MaxSteps, ErrUnsatisfiable)
		}
		edges, ok := s.edges(p, vi.Version)
		if !ok {
			continue
		}
		nextCons := maps.Clone(cons)
		nextQueue := slices.Clone(queue)
		for _, e := range edges {
			if c, ok := chosen[e.uuid]; ok && !e.spec.Contains(c.Version) {
				continue versions
			}
			if prev, ok := nextCons[e.uuid]; ok {
				nextCons[e.uuid] = prev.Intersect(e.spec)
			} else {
				nextCons[e.uuid] = e.spec
			}
			if nextCons[e.uuid].IsEmpty() {
				continue versions
			}
			if !slices.Contains(nextQueue, e.uuid) {
				nextQueue = append(nextQueue, e.uuid)
			}
		}
		nextChosen := maps.Clone(chosen)
		nextChosen[u] = vi
		got, err := s.solve(nextQueue, nextChosen, nextCons)
		if err != nil || got != nil {
			return got, err
		}
	}
	return nil, nil
}

// edges lists the registry dependencies of p at v with their compat specs;
// ok is false when v cannot be used (julia compat, or a dependency that is
// neither in the registry nor a stdlib).
func (s *solver) edges(p *Package, v Version) ([]depEdge, bool) {
	compat := p.CompatOf(v)
	if jc, ok := compat["julia"]; ok && s.julia != nil && !jc.Contains(*s.julia) {
		return nil, false
	}
	var out []depEdge
	deps := p.DepsOf(v)
	for _, name := range slices.Sorted(maps.Keys(deps)) {
		du := deps[name]
		if _, ok := s.reg.Packages[du]; !ok {
			if std, ok := s.opts.Stdlibs[du]; ok {
				s.stdSeen[du] = std
				continue
			}
			return nil, false
		}
		spec, ok := compat[name]
		if !ok {
			spec = AllVersions()
		}
		out = append(out, depEdge{du, spec})
	}
	if s.opts.IncludeWeak {
		wcompat := p.WeakCompatOf(v)
		weak := p.WeakDepsOf(v)
		for _, name := range slices.Sorted(maps.Keys(weak)) {
			du := weak[name]
			if _, ok := s.reg.Packages[du]; !ok {
				continue
			}
			spec, ok := wcompat[name]
			if !ok {
				spec = AllVersions()
			}
			out = append(out, depEdge{du, spec})
		}
	}
	return out, true
}

// DefaultStdlibs returns the uuids and names of Julia's standard libraries
// (Julia 1.3-1.12, taken from the manifests in shared/testdata plus a few
// other long-standing ones). A fresh map on each call.
func DefaultStdlibs() map[UUID]string {
	out := make(map[UUID]string, len(stdlibs))
	for u, n := range stdlibs {
		out[MustParseUUID(u)] = n
	}
	return out
}

var stdlibs = map[string]string{
	"0dad84c5-d112-42e6-8d28-ef12dabb789f": "ArgTools",
	"56f22d72-fd6d-98f1-02f0-08ddc0907c33": "Artifacts",
	"2a0f44e3-6c83-55bd-87e4-b1978d98bd5f": "Base64",
	"8bf52ea8-c179-5cab-976a-9e18b702a9bc": "CRC32c",
	"e66e0078-7015-5450-92f7-15fbd957f2ae": "CompilerSupportLibraries_jll",
	"ade2ca70-3891-5945-98fb-dc099432e06a": "Dates",
	"8bb1440f-4735-579b-a4ab-409b98df4dab": "DelimitedFiles",
	"8ba89e20-285c-5b6f-9357-94700520ee1b": "Distributed",
	"f43a241f-c20a-4ad4-852c-f6b1247861c6": "Downloads",
	"7b1f6079-737a-58dc-b8bc-7a2ca5c1b5ee": "FileWatching",
	"9fa8497b-333b-5362-9e8d-4d0656e87820": "Future",
	"781609d7-10c4-51f6-84f2-b8444358ff6d": "GMP_jll",
	"b77e0a4c-d291-57a0-90e8-8db25a27a240": "InteractiveUtils",
	"ac6e5ff7-fb65-4e79-a425-ec3bc9c03011": "JuliaSyntaxHighlighting",
	"4af54fe1-eca0-43a8-85a7-787d91b784e3": "LazyArtifacts",
	"b27032c2-a3e7-50c8-80cd-2d36dbcbfd21": "LibCURL",
	"deac9b47-8bc7-5906-a0fe-35ac56dc84c0": "LibCURL_jll",
	"76f85450-5226-5b5a-8eaa-529ad045b433": "LibGit2",
	"e37daf67-58a4-590a-8e99-b0245dd2ffc5": "LibGit2_jll",
	"29816b5a-b9ab-546f-933c-edad1886dfa8": "LibSSH2_jll",
	"183b4373-6708-53ba-ad28-60e28bb38547": "LibUV_jll",
	"745a5e78-f969-43ff-82e0-c0a4d73df2c3": "LibUnwind_jll",
	"8f399da3-3557-5675-b5ff-fb832c97cbdb": "Libdl",
	"37e2e46d-f89d-539d-b4ee-838fcccc9c8e": "LinearAlgebra",
	"56ddb016-857b-54e1-b83d-db4d58db5568": "Logging",
	"3a97d323-0669-5f0c-9066-3539efd106a3": "MPFR_jll",
	"d6f4376e-aef5-505a-96c1-9c027394607a": "Markdown",
	"c8ffd9c3-330d-5841-b78e-0817d7145fa1": "MbedTLS_jll",
	"a63ad114-7e13-5084-954f-fe012c677804": "Mmap",
	"14a3606d-f60d-562e-9121-12d972cd8159": "MozillaCACerts_jll",
	"ca575930-c2e3-43a9-ace4-1e988b2c1908": "NetworkOptions",
	"4536629a-c528-5b80-bd46-f80d51c5b363": "OpenBLAS_jll",
	"05823500-19ac-5b8b-9628-191a04bc5112": "OpenLibm_jll",
	"458c3c95-2e84-50aa-8efc-19380b2a3a95": "OpenSSL_jll",
	"efcefdf7-47ab-520b-bdef-62a2eaa19f15": "PCRE2_jll",
	"44cfe95a-1eb2-52ea-b672-e2afdf69b78f": "Pkg",
	"de0858da-6303-5e67-8744-51eddeeeb8d7": "Printf",
	"9abbd945-dff8-562f-b5e8-e1ebf5ef1b79": "Profile",
	"3fa0cd96-eef1-5676-8a61-b3b8758bbffb": "REPL",
	"9a3f8284-a2c9-5f02-9a11-845980a1fd5c": "Random",
	"ea8e919c-243c-51af-8825-aaa63cd721ce": "SHA",
	"9e88b42a-f829-5b0c-bbe9-9e923198166b": "Serialization",
	"1a1011a3-84de-559e-8e89-a11a2f7dc383": "SharedArrays",
	"6462fe0b-24de-5631-8697-dd941f90decc": "Sockets",
	"2f01184e-e22b-5df5-ae63-d93ebab69eaf": "SparseArrays",
	"10745b16-79ce-11e8-11f9-7d13ad32a3b2": "Statistics",
	"f489334b-da3d-4c2e-b8f0-e476e12c162b": "StyledStrings",
	"4607b0f0-06f3-5cda-b6b1-a6196a1729e9": "SuiteSparse",
	"bea87d4a-7f5b-5778-9afe-8cc45184846c": "SuiteSparse_jll",
	"fa267f1f-6049-4f14-aa54-33bafae1ed76": "TOML",
	"a4e569a6-e804-4fa4-b0f3-eef7a1d5b13e": "Tar",
	"8dfed614-e22c-5e08-85e1-65c5234f0b40": "Test",
	"cf7118a7-6976-5b1a-9a39-7adc72f591a4": "UUIDs",
	"4ec0a83e-493e-50e2-b9ac-8f72acf5a8f5": "Unicode",
	"83775a58-1f1d-513f-b197-d71354ab007a": "Zlib_jll",
	"05ff407c-b0c1-5878-9df8-858cc2e60c36": "dSFMT_jll",
	"8e850b90-86db-534c-a0d3-1478176c7d93": "libblastrampoline_jll",
	"8f36deef-c2a5-5394-99ed-8e07531fb29a": "libLLVM_jll",
	"8e850ede-7688-5339-a07c-302acd2aaf8d": "nghttp2_jll",
	"3f19e933-33d8-53b3-aaab-bd5110c3b7a0": "p7zip_jll",
}
