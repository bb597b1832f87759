package cli

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the shoebox version: Version, else the module version from
// the build info, else "dev".
func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "dev"
}

// commit is the source revision shoebox was built from: Commit, else the
// build info's vcs.revision (with "-dirty" for modified sources), else
// "unknown".
func commit() string {
	if Commit != "" {
		return Commit
	}
	rev, dirty := "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if rev == "" {
		return "unknown"
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

// versionJSON is what `shoebox version --json` prints.
type versionJSON struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func buildInfo() versionJSON {
	return versionJSON{Version: version(), Commit: commit(), GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

func newVersionCmd(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit, Go version and platform of this shoebox",
		Long: `Print what this shoebox binary is: its version, the commit it was built
from, the Go version that built it and its platform (GOOS/GOARCH).
"shoebox --version" prints the version alone.`,
		Example: `  shoebox version
  shoebox version --json | jq -r .commit`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(*cobra.Command, []string) error {
			v := buildInfo()
			if asJSON {
				writeJSON(f, v)
				return nil
			}
			fmt.Fprintf(f.Out, "shoebox %s\ncommit    %s\ngo        %s\nplatform  %s\n", v.Version, v.Commit, v.GoVersion, v.Platform)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON: version, commit, goVersion, platform")
	return cmd
}
