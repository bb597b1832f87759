package cli

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/shoebox-jl/shoebox/internal/tarx"
	"github.com/shoebox-jl/shoebox/pkg/treehash"
)

// TreehashOptions are the inputs of shoebox treehash.
type TreehashOptions struct {
	Path      string
	Algorithm treehash.Algorithm
	KeepEmpty bool
	Out       io.Writer
}

const treehashLong = `Print the Julia tree hash of a directory or of a tarball.

PATH is a directory, or a tar file that is plain, gzip- or zstd-compressed
(told by its first bytes, not by its name: .tar, .tar.gz, .tgz, .tar.zst).
The output is the hash in lowercase hex and a newline.

Pkg uses two semantics:
  skip-empty  directories with no file or symlink below them do not count,
              as in git. Pkg checks packages and artifacts this way, by
              hashing the extracted directory with GitTools.tree_hash, which
              also ignores every entry named ".git". This is the default,
              for directories and tarballs alike.
  keep-empty  empty directories count as empty trees (--keep-empty). Pkg
              checks registry tarballs this way, with Tar.tree_hash on the
              tar stream.
For a tar built from a git tree the two agree. Symlinks are hashed by the
byte length of their target, as git and Tar.jl do (Pkg's directory hash
uses the character length, which differs for non-ASCII targets).

A tarball is read under Tar.jl's rules, which Pkg enforces: an entry Pkg
would reject (device node, FIFO, "..", absolute path, path below a symlink,
hard link to anything but an earlier file, bad header) fails with exit
code 3 and names the entry.`

func newTreehashCmd(f *Factory) *cobra.Command {
	opts := TreehashOptions{Out: f.Out}
	var alg string
	cmd := &cobra.Command{
		Use:   "treehash PATH",
		Short: "Print the Julia tree hash of a directory or tarball",
		Long:  treehashLong,
		Example: `  shoebox treehash ./Example
  shoebox treehash --keep-empty registry.tar.gz
  shoebox treehash --algorithm git-sha256 artifact.tar.zst`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("treehash takes exactly one PATH, got %d arguments", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch a := treehash.Algorithm(alg); a {
			case treehash.SHA1, treehash.SHA256:
				opts.Algorithm = a
			default:
				return usagef("--algorithm %q: want %s or %s", alg, treehash.SHA1, treehash.SHA256)
			}
			opts.Path = args[0]
			return runTreehash(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&alg, "algorithm", string(treehash.SHA1), "hash algorithm: git-sha1 (what Pkg uses) or git-sha256")
	cmd.Flags().BoolVar(&opts.KeepEmpty, "keep-empty", false, "count empty directories (Pkg's registry tarball check) instead of skipping them")
	return cmd
}

func runTreehash(ctx context.Context, opts TreehashOptions) error {
	fi, err := os.Stat(opts.Path)
	if err != nil {
		return err
	}
	var id []byte
	if fi.IsDir() {
		id, err = treehash.DirSum(opts.Path, treehash.Options{Algorithm: opts.Algorithm, KeepEmpty: opts.KeepEmpty})
		if err != nil {
			return err
		}
	} else {
		id, err = tarballSum(ctx, opts)
		if err != nil {
			return fmt.Errorf("%s: %w", opts.Path, err)
		}
	}
	_, err = fmt.Fprintln(opts.Out, hex.EncodeToString(id))
	return err
}

func tarballSum(ctx context.Context, opts TreehashOptions) ([]byte, error) {
	file, err := os.Open(opts.Path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	tr, _, err := tarx.Decompress(ctxReader{ctx, file})
	if err != nil {
		return nil, err
	}
	defer tr.Close()
	keep, skip, err := treehash.TarSum(tr, opts.Algorithm)
	if err != nil {
		return nil, err
	}
	if opts.KeepEmpty {
		return keep, nil
	}
	return skip, nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
