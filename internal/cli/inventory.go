package cli

import (
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/pkg/transfer"
)

// TODO(skeleton): replaced by the real command.
func newInventoryCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "inventory",
		Short:  "(not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errNotBuilt
		},
	}
}

// inventorySkip reads an inventory file (shoebox inventory) and returns the
// delta predicate for push.
// TODO(skeleton): built with the inventory command.
func inventorySkip(path string) (func(transfer.Resource) (ocispec.Descriptor, bool), error) {
	return nil, errNotBuilt
}
