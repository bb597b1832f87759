package cli

import "github.com/spf13/cobra"

// TODO(skeleton): replaced by the real command.
func newKeyCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "key",
		Short:  "(not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errNotBuilt
		},
	}
}
