package cli

import "github.com/spf13/cobra"

// TODO(skeleton): replaced by the real command.
func newInspectCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:    "inspect",
		Short:  "(not built yet)",
		Hidden: true,
		RunE: func(*cobra.Command, []string) error {
			return errNotBuilt
		},
	}
}
