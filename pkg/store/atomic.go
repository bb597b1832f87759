package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Temporary files a writer creates. Both prefixes are removed when a writer
// opens the layout (it holds the lock, so none of them is in use), and
// readers never look at them.
const (
	ingestDirName   = "ingest"           // same directory oras-go uses
	ingestTmpPrefix = "shoebox-"         // ingest/shoebox-*: blobs being written
	indexTmpPrefix  = ".index.json.tmp-" // <root>/.index.json.tmp-*: index being written
	layoutTmpPrefix = ".oci-layout.tmp-" // <root>/.oci-layout.tmp-*
	readableMode    = os.FileMode(0o644) // index.json, oci-layout
	blobMode        = os.FileMode(0o444) // blobs are immutable
	dirMode         = os.FileMode(0o755)
)

// writeFileAtomic replaces dir/name with data so that a concurrent reader
// sees either the old or the new content, never a mix, and a crash leaves
// one of the two (plus, at worst, a temporary file with tmpPrefix): write a
// temporary file in the same directory, fsync it, rename it over the
// target, fsync the directory.
func writeFileAtomic(dir, name, tmpPrefix string, data []byte, mode os.FileMode) (err error) {
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("creating temporary file for %s: %w", name, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("writing %s: %w", tmp, err)
	}
	if err = chmod(f, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		return fmt.Errorf("renaming %s: %w", tmp, err)
	}
	return syncDir(dir)
}

// chmod sets f's mode where the file system keeps modes. FAT32 and exFAT
// keep none (the Linux vfat driver refuses with EPERM, fusefat with ENOSYS,
// others with EOPNOTSUPP): there a blob stays writable, as every file on
// such a stick is, and its digest is what protects it.
func chmod(f *os.File, mode os.FileMode) error {
	err := f.Chmod(mode)
	if errors.Is(err, syscall.ENOSYS) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) ||
		errors.Is(err, syscall.EOPNOTSUPP) {
		return nil
	}
	return err
}

// syncDir makes a rename in dir durable. File systems that cannot fsync a
// directory (some FUSE and vfat setups answer EINVAL) are tolerated.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTSUP) {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}

// removeTemps deletes the entries of dir whose names start with prefix and
// returns how many it removed.
func removeTemps(dir, prefix string) (int, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			return n, err
		}
		n++
	}
	return n, nil
}
