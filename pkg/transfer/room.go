package transfer

import (
	"context"
	"errors"
	"fmt"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/store"
	"github.com/shoebox-jl/shoebox/pkg/upstream"
)

// manifestBlobSize is what an item manifest is reckoned to take before it
// is written (they are 1–3 KB; a package's that records Artifacts.toml
// files can be more, and on most sticks every file takes a whole cluster
// anyway).
const manifestBlobSize = 4 << 10

// planned is one item of a plan whose room is checked: its tarball size
// (-1 when no source could say) and whether the destination has it.
type planned struct {
	size  int64
	there bool
}

// checkRoom checks what the destination can take (PushOptions.Room, or
// the layout's store.Room) against the next items the push will write,
// before it writes them: the blob files they add against what blobs/sha256
// can still hold (FAT32's directory limit, which a dry run checks too), and
// their bytes, each rounded up to whole blocks, against the free space.
// final adds what every push writes last (report and index). A registry
// is not checked.
func (p *pusher) checkRoom(what string, items []planned, final bool) error {
	room, ok, err := p.room()
	if err != nil || !ok {
		return err
	}
	blobs, unknown := 0, 0
	var sizes []int64
	for _, it := range items {
		if it.there {
			continue
		}
		blobs += 2 // the item's manifest and its tarball
		sizes = append(sizes, manifestBlobSize)
		switch {
		case it.size < 0:
			unknown++
		case p.opts.MaxPartSize > 0 && it.size > p.opts.MaxPartSize:
			parts := (it.size + p.opts.MaxPartSize - 1) / p.opts.MaxPartSize
			blobs += int(parts) - 1
			for i := int64(0); i < parts; i++ {
				sizes = append(sizes, min(p.opts.MaxPartSize, it.size-i*p.opts.MaxPartSize))
			}
		default:
			sizes = append(sizes, it.size)
		}
	}
	if final {
		blobs += 3 // the report's manifest and JSON, the bundle index
		sizes = append(sizes, manifestBlobSize, manifestBlobSize, manifestBlobSize)
	}
	loc := p.dst.Ref().Location()
	if room.MaxBlobs > 0 && room.Blobs+blobs > room.MaxBlobs {
		return fmt.Errorf("%s is on FAT32, whose directories hold at most 65,536 entries: blobs/sha256 can hold %d blob files "+
			"(a 64-hex-digit name takes 6 entries), it holds %d, and %s would add %d: %w; "+
			"use a stick formatted exFAT (no such limit), or carry less (fewer --versions, platforms or manifests)",
			loc, room.MaxBlobs, room.Blobs, what, blobs, store.ErrNoRoom)
	}
	if p.opts.DryRun || room.Block == 0 {
		return nil // the dry run's plan states the space; no statfs here
	}
	need := room.Needs(sizes...)
	if need > room.Free {
		also := ""
		if unknown > 0 {
			also = fmt.Sprintf(", and %d more of sizes the sources do not tell", unknown)
		}
		return fmt.Errorf("%s has %s free; %s needs %s (files rounded up to %s blocks)%s: %w; free some space or use a larger stick (shoebox push --dry-run shows the plan)",
			loc, humanSize(room.Free), what, humanSize(need), humanSize(room.Block), also, store.ErrNoRoom)
	}
	return nil
}

func (p *pusher) room() (store.Room, bool, error) {
	if p.opts.Room != nil {
		return p.opts.Room()
	}
	return p.dst.Room()
}

// sizeOf asks the sources, in order, for the size of a resource's
// tarball without fetching it (upstream.Sizer); -1 when none can say.
func (p *pusher) sizeOf(ctx context.Context, r Resource) int64 {
	for _, s := range p.sources {
		sz, ok := s.(upstream.Sizer)
		if !ok {
			continue
		}
		n, err := sz.Size(ctx, r)
		if err == nil {
			return n
		}
		if !errors.Is(err, upstream.ErrNotFound) && !errors.Is(err, errors.ErrUnsupported) {
			return -1
		}
	}
	return -1
}

// plannedPackages is the room plan of the packages: sizes from the
// sources, what the destination has from its bundles.
func (p *pusher) plannedPackages(ctx context.Context, regs []*registrySnapshot, pkgs []*pkgPlan) []planned {
	out := make([]planned, 0, len(regs)+len(pkgs))
	for _, r := range regs {
		_, there := p.existing[identityKey(bundle.KindRegistry, r.ref.UUID, r.ref.Hash)]
		if _, skip := p.skipped(Resource{Kind: KindRegistry, UUID: r.ref.UUID, Hash: r.ref.Hash}); skip {
			there = true
		}
		out = append(out, planned{size: int64(len(r.tarball)), there: there})
	}
	for _, pp := range pkgs {
		out = append(out, p.plannedItem(ctx, bundle.KindPackage, pp.res))
	}
	return out
}

// plannedArtifacts is the room plan of the artifacts.
func (p *pusher) plannedArtifacts(ctx context.Context, arts []*artPlan) []planned {
	out := make([]planned, 0, len(arts))
	for _, ap := range arts {
		out = append(out, p.plannedItem(ctx, bundle.KindArtifact, ap.res))
	}
	return out
}

// plannedItem is one package's or artifact's room plan: nothing to write
// when the destination has it, else its size as the sources tell it (-1:
// unknown).
func (p *pusher) plannedItem(ctx context.Context, kind bundle.Kind, res Resource) planned {
	_, there := p.existing[identityKey(kind, res.UUID, res.Hash)]
	if _, skip := p.skipped(res); skip {
		there = true
	}
	size := int64(-1)
	if !there {
		size = p.sizeOf(ctx, res)
	}
	return planned{size: size, there: there}
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
