package cli

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
	"github.com/spf13/pflag"

	"github.com/shoebox-jl/shoebox/pkg/bundle"
	"github.com/shoebox-jl/shoebox/pkg/shelf"
	"github.com/shoebox-jl/shoebox/pkg/store"
)

const completionLong = `Print a shell completion script for bash, zsh or fish.

It completes commands, flags, the values of --platform (the platform
triplets Julia's binary artifacts are built for), --kind, --format,
--registry-view, --log-format, --log-level, --algorithm and --fail-on,
and the tags
of an OCI layout after STORE: (a registry's tags are not listed: that
would need the network).

  bash   source <(shoebox completion bash)
         or: shoebox completion bash > /etc/bash_completion.d/shoebox
         (needs the bash-completion package)
  zsh    shoebox completion zsh > "${fpath[1]}/_shoebox"
         (with "autoload -U compinit; compinit" in ~/.zshrc)
  fish   shoebox completion fish > ~/.config/fish/completions/shoebox.fish

Open a new shell afterwards.`

func newCompletionCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish",
		Short:     "Print a shell completion script (bash, zsh or fish)",
		Long:      completionLong,
		Example:   "  source <(shoebox completion bash)",
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("%s takes one shell: bash, zsh or fish (got %d arguments)", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			root := cmd.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(f.Out, true)
			case "zsh":
				return root.GenZshCompletion(f.Out)
			case "fish":
				return root.GenFishCompletion(f.Out, true)
			}
			return usagef("completion %q: want bash, zsh or fish", args[0])
		},
	}
}

// newManCmd writes the man pages (make man). Hidden: it documents the
// commands rather than being one.
func newManCmd(f *Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:    "gen-man DIR",
		Short:  "Write a man page for every command into DIR (make man)",
		Hidden: true,
		Args:   exactArgs(1, "DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			root.DisableAutoGenTag = true
			hdr := &doc.GenManHeader{Title: "SHOEBOX", Section: "1", Source: "shoebox " + version(), Manual: "shoebox manual"}
			if err := doc.GenManTree(root, hdr, args[0]); err != nil {
				return err
			}
			fmt.Fprintf(f.Err, "man pages written to %s\n", args[0])
			return nil
		},
	}
	return cmd
}

// juliaPlatforms are the platform triplets Julia's binary artifacts are
// built for (BinaryBuilder's supported_platforms()), offered by
// completion; --platform accepts any triplet Julia parses.
var juliaPlatforms = []string{
	"x86_64-linux-gnu", "aarch64-linux-gnu", "i686-linux-gnu", "armv6l-linux-gnueabihf", "armv7l-linux-gnueabihf",
	"powerpc64le-linux-gnu", "riscv64-linux-gnu",
	"x86_64-linux-musl", "aarch64-linux-musl", "i686-linux-musl", "armv6l-linux-musleabihf", "armv7l-linux-musleabihf",
	"x86_64-apple-darwin", "aarch64-apple-darwin",
	"x86_64-w64-mingw32", "i686-w64-mingw32",
	"x86_64-unknown-freebsd", "aarch64-unknown-freebsd",
}

// fixedValues completes a flag from a fixed list.
func fixedValues(vals ...string) cobra.CompletionFunc {
	return func(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		var out []string
		for _, v := range vals {
			if strings.HasPrefix(v, toComplete) {
				out = append(out, v)
			}
		}
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

// flagValues are the values completion offers, by flag name, and by
// "command flag" where commands give one name different values.
var flagValues = map[string][]string{
	"platform":                       juliaPlatforms,
	"kind":                           {"registry", "package", "artifact"},
	"registry-view":                  {"available", "full"},
	"log-format":                     {"text", "json"},
	"shoebox sign format":            {"simple", "bundle"},
	"shoebox attest format":          {"simple", "bundle"},
	"shoebox sbom format":            {"cyclonedx", "spdx"},
	"fail-on":                        {"low", "medium", "high", "critical"},
	"shoebox key generate algorithm": {"ecdsa-p256", "ed25519"},
	"shoebox treehash algorithm":     {"git-sha1", "git-sha256"},
}

// storeArgs are the commands whose positional arguments are stores.
var storeArgs = map[string]bool{
	"shoebox push": true, "shoebox sign": true, "shoebox verify": true, "shoebox copy": true, "shoebox serve": true,
	"shoebox ls": true, "shoebox inspect": true, "shoebox inventory": true,
	"shoebox sbom": true, "shoebox attest": true, "shoebox audit": true, "shoebox prune": true,
}

// registerCompletions adds value completion to every command's flags
// and store arguments.
func registerCompletions(root *cobra.Command) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.LocalNonPersistentFlags().VisitAll(func(fl *pflag.Flag) {
			vals, ok := flagValues[c.CommandPath()+" "+fl.Name]
			if !ok {
				vals, ok = flagValues[fl.Name]
			}
			if ok {
				if _, exists := c.GetFlagCompletionFunc(fl.Name); !exists {
					c.RegisterFlagCompletionFunc(fl.Name, fixedValues(vals...))
				}
			}
		})
		if storeArgs[c.CommandPath()] && c.ValidArgsFunction == nil {
			c.ValidArgsFunction = completeStore
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// completeStore completes STORE[:TAG]: after a ':' the bundle tags of an
// OCI layout (read from its index.json, no lock taken), else paths.
func completeStore(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	prefix, body := "", toComplete
	if b, ok := strings.CutPrefix(body, store.LayoutPrefix); ok {
		prefix, body = store.LayoutPrefix, b
	}
	i := strings.LastIndexByte(body, ':')
	if i < 0 {
		return nil, cobra.ShellCompDirectiveDefault
	}
	dir, partial := body[:i], body[i+1:]
	var out []string
	for _, t := range layoutBundleTags(dir) {
		if strings.HasPrefix(t, partial) {
			out = append(out, prefix+dir+":"+t)
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// layoutBundleTags returns the sorted tags of dir's index.json that can
// name bundles; nil when dir is not a readable OCI layout.
func layoutBundleTags(dir string) []string {
	b, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return nil
	}
	var idx ocispec.Index
	if json.Unmarshal(b, &idx) != nil {
		return nil
	}
	var tags []string
	for _, m := range idx.Manifests {
		t := m.Annotations[ocispec.AnnotationRefName]
		// shelf.List's rule, without reading the indexes: an image index
		// whose artifactType (when index.json records it) is a bundle's.
		if t != "" && !shelf.IsSignatureTag(t) && m.MediaType == ocispec.MediaTypeImageIndex &&
			(m.ArtifactType == "" || m.ArtifactType == bundle.ArtifactTypeBundle) {
			tags = append(tags, t)
		}
	}
	sort.Strings(tags)
	return tags
}
