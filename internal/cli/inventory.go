package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/transfer"
)

// InventoryOptions are the flags and arguments of shoebox inventory.
type InventoryOptions struct {
	Store  string
	Output string
	store  storeFlags
}

const inventoryLong = `Write what a store holds, for the outside to push a delta against.

inventory lists every bundle tagged in STORE (tag and index digest) and
every item they reference: kind, name, uuid, tree hash, platform, versions,
the item manifest's descriptor (with its identity annotations) and the
digests of its tarball's blobs. The JSON is deterministic: the same content
gives the same bytes, whatever order it arrived in.

Carry the file out, then on the connected side:

  shoebox push --inventory inv.json --manifest … /media/usb/julia:delta-2026-12

writes a bundle whose index names every item, but whose layout holds only
what the inventory lacks. Inside, verify it with --with STORE and copy it
into STORE: the result is a complete bundle there.`

func newInventoryCmd(f *Factory) *cobra.Command {
	opts := &InventoryOptions{}
	cmd := &cobra.Command{
		Use:   "inventory [flags] STORE",
		Short: "Write what a store holds as JSON, for pushing deltas against",
		Long:  inventoryLong,
		Example: `  shoebox inventory harbor.example.org/julia/bundles > inv.json
  shoebox inventory -o /media/usb/inventory.json /srv/julia-layout`,
		Args: exactArgs(1, "STORE"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Store = args[0]
			return runInventory(cmd.Context(), f, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "write the inventory to this file (atomically) instead of standard output")
	opts.store.register(cmd.Flags())
	return cmd
}

func runInventory(ctx context.Context, f *Factory, o *InventoryOptions) error {
	st, ref, err := o.store.open(ctx, f, o.Store, true)
	if err != nil {
		return err
	}
	defer st.Close()
	if ref.Tag != "" {
		return usagef("inventory lists a whole store: give STORE without a tag (got %s)", o.Store)
	}
	inv, err := transfer.BuildInventory(ctx, st)
	if err != nil {
		return fmt.Errorf("%s: %w", ref.Location(), err)
	}
	if o.Output == "" {
		_, err = inv.WriteTo(f.Out)
		return err
	}
	var buf bytes.Buffer
	if _, err := inv.WriteTo(&buf); err != nil {
		return err
	}
	return writeKeyFile(o.Output, buf.Bytes(), 0o644, true)
}

// inventorySkip reads an inventory file (shoebox inventory) and returns the
// delta predicate for push: the resources the inventoried store holds,
// with the item manifest descriptor to reference each by.
func inventorySkip(path string) (func(transfer.Resource) (ocispec.Descriptor, bool), error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--inventory %s: %w", path, err)
	}
	defer fh.Close()
	inv, err := transfer.ReadInventory(fh)
	if err != nil {
		if errors.Is(err, transfer.ErrInventory) {
			return nil, usagef("--inventory %s: %v", path, err)
		}
		return nil, fmt.Errorf("--inventory %s: %w", path, err)
	}
	return inv.Has, nil
}
